package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// ObjectKind is a kind of engine object moat creates.
type ObjectKind string

const (
	KindContainer ObjectKind = "container"
	KindNetwork   ObjectKind = "network"
	KindVolume    ObjectKind = "volume"
	KindImage     ObjectKind = "image"
)

// Object is an engine object moat created.
type Object struct {
	Kind  ObjectKind
	ID    string
	Name  string // a tag for images
	RunID string
	Role  string
	Size  int64 // images only
	// Running is true for a running container. (One of this home's runs
	// that is being created has its record first; another home's objects
	// are never taken.)
	Running bool
	// Home is the moat home that created it (labels.Home); "" for objects
	// from a moat before that label.
	Home string
}

// CleanPlan is what Clean would remove.
type CleanPlan struct {
	Runs    []*state.Run // finished runs: records, logs and objects
	Images  []Object     // moat images no remaining run uses
	Orphans []Object     // objects whose run is finished or unknown
	Caches  []Object     // docker:dind caches, only when asked for
}

// Empty reports whether there is nothing to clean.
func (p CleanPlan) Empty() bool { return len(p.Runs)+len(p.Images)+len(p.Orphans)+len(p.Caches) == 0 }

// PlanClean lists this home's finished runs, unused moat images and
// orphaned engine objects, all found by label, and with caches the
// docker:dind caches no active run uses. It never lists another moat
// home's objects, what a live run anywhere on the engine uses, a running or
// starting container, an in-flight build, or an object that only looks
// like moat's because it inherited a moat image's labels.
func (m *Manager) PlanClean(ctx context.Context, caches bool) (CleanPlan, error) {
	runs, err := m.Runs(ctx)
	if err != nil {
		return CleanPlan{}, err
	}
	var plan CleanPlan
	active := map[string]*state.Run{}
	for _, r := range runs {
		if r.Status.Active() {
			active[r.ID] = r
		} else {
			plan.Runs = append(plan.Runs, r)
		}
	}
	all, err := m.Engine.ListContainers(ctx, "")
	if err != nil {
		return plan, fmt.Errorf("listing containers: %w", err)
	}
	live := liveRuns(all)
	objs, err := m.runObjects(ctx, "")
	if err != nil {
		return plan, err
	}
	cachesInUse := map[string]bool{}
	for _, r := range active {
		for _, v := range r.Volumes {
			cachesInUse[v.Name] = true
		}
	}
	for _, o := range objs {
		switch {
		case o.Role == labels.RoleDindCache || o.Role == labels.RoleBuildkitCache:
			if caches && !cachesInUse[o.Name] && !o.Running {
				plan.Caches = append(plan.Caches, o)
			}
		case active[o.RunID] != nil || finishedRun(plan.Runs, o.RunID):
		case live[o.RunID] || o.Running:
			// Some moat, maybe another home's, runs it now.
		case o.Home != "" && o.Home != m.homeID():
			// Another home's: only its records tell whether a run still
			// claims it (one that has just ended is being finished there).
		default:
			plan.Orphans = append(plan.Orphans, o)
		}
	}
	// The containers that stay decide which images are in use.
	removed := map[string]bool{}
	for _, o := range plan.Orphans {
		removed[o.ID] = true
	}
	staying := slices.DeleteFunc(all, func(c runtime.ContainerInfo) bool {
		return removed[c.ID] || (isRunContainer(c) && finishedRun(plan.Runs, c.Labels[labels.RunID]))
	})
	plan.Images, err = m.unusedImages(ctx, staying)
	return plan, err
}

// liveRuns returns the runs with a running container of their own.
func liveRuns(cs []runtime.ContainerInfo) map[string]bool {
	live := map[string]bool{}
	for _, c := range cs {
		if id := c.Labels[labels.RunID]; id != "" && c.Running && isRunContainer(c) {
			live[id] = true
		}
	}
	return live
}

// isRunContainer reports whether c is a run's own container: moat's
// labels with a run's role, under the name moat gave it. Labels alone do
// not tell: a container built or committed from a moat image inherits the
// image's labels, and build containers do too.
func isRunContainer(c runtime.ContainerInfo) bool {
	id := c.Labels[labels.RunID]
	return c.Labels[labels.Managed] == "true" && id != "" &&
		slices.Contains(labels.RunRoles, c.Labels[labels.Role]) &&
		(c.Name == "moat-"+id || strings.HasPrefix(c.Name, "moat-"+id+"-"))
}

func finishedRun(runs []*state.Run, id string) bool {
	for _, r := range runs {
		if r.ID == id {
			return true
		}
	}
	return false
}

// untaggedGrace keeps untagged moat images young enough to belong to a
// build in progress (its intermediate layers) out of a clean.
const untaggedGrace = time.Hour

// unusedImages lists moat images, tag by tag, that no container on the
// engine uses, whichever moat home or user created that container.
func (m *Manager) unusedImages(ctx context.Context, containers []runtime.ContainerInfo) ([]Object, error) {
	imgs, err := m.Engine.ListImages(ctx, labels.ManagedFilter)
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	inUse := map[string]bool{}
	for _, c := range containers {
		inUse[c.Image], inUse[c.ImageID] = true, true
	}
	var out []Object
	for _, img := range imgs {
		if inUse[img.ID] {
			continue
		}
		img.Tags = slices.DeleteFunc(slices.Clone(img.Tags), func(t string) bool { return t == "<none>:<none>" })
		if len(img.Tags) == 0 && m.now().Sub(img.Created) > untaggedGrace {
			out = append(out, Object{Kind: KindImage, ID: img.ID, Name: "<untagged>", Size: img.Size})
		}
		// Removed tag by tag: identical builds share one image under
		// several tags, and a tag a container uses must stay.
		for _, t := range img.Tags {
			if !inUse[t] {
				out = append(out, Object{Kind: KindImage, ID: t, Name: t, Size: img.Size})
			}
		}
	}
	return out, nil
}

// Clean removes what the plan lists. It goes on after a failure and
// returns every error.
func (m *Manager) Clean(ctx context.Context, plan CleanPlan) error {
	var errs []error
	for _, r := range plan.Runs {
		errs = append(errs, m.Destroy(ctx, r, false))
	}
	for _, o := range plan.Orphans {
		errs = append(errs, m.removeObject(ctx, o))
	}
	for _, img := range plan.Images {
		// A container created since the plan (any user's, any home's) may
		// use the image now: the engine refuses, and the image stays.
		if err := m.removeObject(ctx, img); !errors.Is(err, runtime.ErrConflict) {
			errs = append(errs, err)
		}
	}
	for _, c := range plan.Caches {
		errs = append(errs, m.removeObject(ctx, c))
	}
	return errors.Join(errs...)
}

// runObjects lists containers, networks and volumes labelled with runID,
// or with any run when runID is "".
func (m *Manager) runObjects(ctx context.Context, runID string) ([]Object, error) {
	sel := labels.ManagedFilter
	if runID != "" {
		sel = labels.RunFilter(runID)
	}
	cs, err := m.Engine.ListContainers(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []Object
	// One run's objects are this home's only: another home's run may
	// carry the same ID.
	mine := func(lbl map[string]string) bool { return runID == "" || m.homeOK(lbl) }
	for _, c := range cs {
		if !isRunContainer(c) || !mine(c.Labels) {
			continue
		}
		out = append(out, Object{Kind: KindContainer, ID: c.ID, Name: c.Name, RunID: c.Labels[labels.RunID], Role: c.Labels[labels.Role],
			Home: c.Labels[labels.Home], Running: c.Running})
	}
	for kind, list := range map[ObjectKind]func(context.Context, string) ([]runtime.ObjectInfo, error){
		KindNetwork: m.Engine.ListNetworks, KindVolume: m.Engine.ListVolumes,
	} {
		objs, err := list(ctx, sel)
		if err != nil {
			return nil, fmt.Errorf("listing %ss: %w", kind, err)
		}
		for _, o := range objs {
			if !mine(o.Labels) {
				continue
			}
			out = append(out, Object{Kind: kind, ID: o.ID, Name: o.Name, RunID: o.Labels[labels.RunID], Role: o.Labels[labels.Role], Home: o.Labels[labels.Home]})
		}
	}
	return sortObjects(out), nil
}

// sortObjects orders removal: containers before the networks and volumes
// they use.
func sortObjects(objs []Object) []Object {
	rank := map[ObjectKind]int{KindContainer: 0, KindNetwork: 1, KindVolume: 2, KindImage: 3}
	out := append([]Object(nil), objs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && rank[out[j].Kind] < rank[out[j-1].Kind]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (m *Manager) removeObject(ctx context.Context, o Object) error {
	var err error
	switch o.Kind {
	case KindContainer:
		err = m.removeContainer(ctx, o.ID)
	case KindNetwork:
		err = m.Engine.RemoveNetwork(ctx, o.ID)
	case KindVolume:
		err = m.Engine.RemoveVolume(ctx, o.ID)
	case KindImage:
		err = m.Engine.RemoveImage(ctx, o.ID)
	}
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("removing %s %s: %w", o.Kind, o.Name, err)
	}
	return nil
}

// removeContainer removes a container and returns once it is gone. A
// sidecar the engine removes by itself when it exits may be on its way out
// already: then it waits for the engine to finish.
func (m *Manager) removeContainer(ctx context.Context, id string) error {
	err := m.Engine.RemoveContainer(ctx, id)
	if !errors.Is(err, runtime.ErrConflict) {
		return err
	}
	deadline := time.Now().Add(removalWait)
	for time.Now().Before(deadline) {
		if _, err := m.Engine.InspectContainer(ctx, id); errors.Is(err, runtime.ErrNotFound) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return err
}

// removalWait bounds how long removeContainer waits for a removal the
// engine started itself.
const removalWait = 10 * time.Second
