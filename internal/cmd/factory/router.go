package factory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/runtime/kube"
)

// clusterKey names the namespace of a cluster, as a container ID does:
// "" is the kubeconfig's current context, or the context's namespace.
type clusterKey struct{ Context, Namespace string }

func keyOf(id string) (clusterKey, error) {
	k, err := kube.ParseID(id)
	return clusterKey{k.Context, k.Namespace}, err
}

// String names the cluster in messages.
func (k clusterKey) String() string {
	ctxName, ns := "the kubeconfig's current context", "its namespace"
	if k.Context != "" {
		ctxName = fmt.Sprintf("context %q", k.Context)
	}
	if k.Namespace != "" {
		ns = fmt.Sprintf("namespace %q", k.Namespace)
	}
	return "Kubernetes (" + ctxName + ", " + ns + ")"
}

// clusters builds an engine per cluster namespace when a call first needs
// it, and keeps it.
type clusters struct {
	opts  kube.Options // all but Context and Namespace
	build func(ctx context.Context, o kube.Options) (clusterEngine, error)

	mu      sync.Mutex
	engines map[clusterKey]clusterEngine
}

func (c *clusters) get(ctx context.Context, k clusterKey) (clusterEngine, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.engines[k]; ok {
		return e, nil
	}
	o := c.opts
	o.Context, o.Namespace = k.Context, k.Namespace
	e, err := c.build(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", k, err)
	}
	if c.engines == nil {
		c.engines = map[clusterKey]clusterEngine{}
	}
	c.engines[k] = e
	// The IDs it returns name the context and namespace it resolved ("" is
	// the kubeconfig's current one): calls by those IDs must reach this
	// engine, which knows the containers it created and has not started.
	if sel, ok := e.(interface {
		Context() string
		Namespace() string
	}); ok {
		if rk := (clusterKey{Context: sel.Context(), Namespace: sel.Namespace()}); rk != k {
			if _, taken := c.engines[rk]; !taken {
				c.engines[rk] = e
			}
		}
	}
	return e, nil
}

// router is the Manager's engine when runs may live on a cluster: a
// container call goes to the engine its ID names (kube.IDPrefix: that
// cluster; else the local engine), a new container to the chosen
// runtime, and listings merge the local engine's with the clusters'.
// Images are always the local engine's: it builds them, and the cluster
// adapter pushes them where the cluster pulls from.
type router struct {
	local    run.Engine
	clusters *clusters
	// home is the chosen runtime's cluster; nil when Docker is chosen.
	home *clusterKey
	// listed are clusters every listing includes (config.yaml's or the
	// chosen one). A listing also reaches the clusters of active runs
	// (activeClusters), so that those do not look gone; a listing of one
	// run's objects (labels.RunFilter) only its container's engine, as its
	// record names it (runContainer: "" when unknown).
	listed         []clusterKey
	activeClusters func() ([]clusterKey, error)
	runContainer   func(runID string) string

	mu     sync.Mutex
	origin map[string]clusterKey // networks and volumes listed on a cluster, by ID and by name
}

// engine returns the engine a container ID belongs to.
func (r *router) engine(ctx context.Context, id string) (clusterEngine, error) {
	if !kube.IsID(id) {
		return r.local, nil
	}
	k, err := keyOf(id)
	if err != nil {
		return nil, err
	}
	return r.clusters.get(ctx, k)
}

func (r *router) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if r.home == nil {
		return r.local.CreateContainer(ctx, spec)
	}
	e, err := r.clusters.get(ctx, *r.home)
	if err != nil {
		return "", err
	}
	return e.CreateContainer(ctx, spec)
}

func (r *router) StartContainer(ctx context.Context, id string) error {
	e, err := r.engine(ctx, id)
	if err != nil {
		return err
	}
	return e.StartContainer(ctx, id)
}

func (r *router) WaitContainer(ctx context.Context, id string) (int, error) {
	e, err := r.engine(ctx, id)
	if err != nil {
		return -1, err
	}
	return e.WaitContainer(ctx, id)
}

func (r *router) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	e, err := r.engine(ctx, id)
	if err != nil {
		return err
	}
	return e.StopContainer(ctx, id, grace)
}

func (r *router) RemoveContainer(ctx context.Context, id string) error {
	e, err := r.engine(ctx, id)
	if err != nil {
		return err
	}
	return e.RemoveContainer(ctx, id)
}

func (r *router) InspectContainer(ctx context.Context, id string) (runtime.ContainerInfo, error) {
	e, err := r.engine(ctx, id)
	if err != nil {
		return runtime.ContainerInfo{}, err
	}
	return e.InspectContainer(ctx, id)
}

func (r *router) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	e, err := r.engine(ctx, id)
	if err != nil {
		return err
	}
	return e.ContainerLogs(ctx, id, opts, stdout, stderr)
}

func (r *router) AttachContainer(ctx context.Context, id string, opts runtime.AttachOptions) (runtime.Stream, error) {
	e, err := r.engine(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.AttachContainer(ctx, id, opts)
}

func (r *router) ResizeTTY(ctx context.Context, id string, height, width uint) error {
	e, err := r.engine(ctx, id)
	if err != nil {
		return err
	}
	return e.ResizeTTY(ctx, id, height, width)
}

// WaitRemoved waits on the container's own engine, if it can.
func (r *router) WaitRemoved(ctx context.Context, id string) error {
	e, err := r.engine(ctx, id)
	if err != nil {
		return err
	}
	w, ok := e.(interface {
		WaitRemoved(ctx context.Context, id string) error
	})
	if !ok {
		return errors.ErrUnsupported
	}
	return w.WaitRemoved(ctx, id)
}

// CopyFileFrom reads a file of the container from its own engine; one
// that cannot is as if the file were not there.
func (r *router) CopyFileFrom(ctx context.Context, id, path string, limit int64) ([]byte, error) {
	e, err := r.engine(ctx, id)
	if err != nil {
		return nil, err
	}
	cp, ok := e.(interface {
		CopyFileFrom(ctx context.Context, id, path string, limit int64) ([]byte, error)
	})
	if !ok {
		return nil, fmt.Errorf("copying %s out of %s: %w (the engine cannot copy files out)", path, id, runtime.ErrNotFound)
	}
	return cp.CopyFileFrom(ctx, id, path, limit)
}

// targets returns the clusters a listing by label selects from: a run's
// own listing (labels.RunFilter) only its container's cluster, if any;
// any other every cluster listed and every active run's.
func (r *router) targets(label string) ([]clusterKey, error) {
	if runID, ok := strings.CutPrefix(label, labels.RunFilter("")); ok {
		if id := r.runContainer(runID); id != "" {
			if !kube.IsID(id) {
				return nil, nil
			}
			k, err := keyOf(id)
			return []clusterKey{k}, err
		}
	}
	active, err := r.activeClusters()
	if err != nil {
		return nil, err
	}
	out := append([]clusterKey(nil), r.listed...)
	for _, k := range active {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// ListContainers merges the local engine's containers with those of the
// clusters runs may be on. A cluster that does not answer fails the
// listing: without it, its runs would look gone.
func (r *router) ListContainers(ctx context.Context, label string) ([]runtime.ContainerInfo, error) {
	out, err := r.local.ListContainers(ctx, label)
	if err != nil {
		return nil, err
	}
	keys, err := r.targets(label)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, k := range keys {
		e, err := r.clusters.get(ctx, k)
		if err != nil {
			return nil, err
		}
		cs, err := e.ListContainers(ctx, label)
		if err != nil {
			return nil, fmt.Errorf("listing containers on %s: %w", k, err)
		}
		for _, c := range cs {
			// Two keys may name one cluster ("" and the current
			// context's name).
			if !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func (r *router) ListNetworks(ctx context.Context, label string) ([]runtime.ObjectInfo, error) {
	return r.listObjects(ctx, label, "networks", r.local.ListNetworks, clusterEngine.ListNetworks)
}

func (r *router) ListVolumes(ctx context.Context, label string) ([]runtime.ObjectInfo, error) {
	return r.listObjects(ctx, label, "volumes", r.local.ListVolumes, clusterEngine.ListVolumes)
}

// listObjects merges networks or volumes as ListContainers does, and
// remembers which cluster each came from, so that removing one by its ID
// or name reaches the same cluster.
func (r *router) listObjects(ctx context.Context, label, what string,
	local func(context.Context, string) ([]runtime.ObjectInfo, error),
	list func(clusterEngine, context.Context, string) ([]runtime.ObjectInfo, error)) ([]runtime.ObjectInfo, error) {
	out, err := local(ctx, label)
	if err != nil {
		return nil, err
	}
	keys, err := r.targets(label)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		e, err := r.clusters.get(ctx, k)
		if err != nil {
			return nil, err
		}
		objs, err := list(e, ctx, label)
		if err != nil {
			return nil, fmt.Errorf("listing %s on %s: %w", what, k, err)
		}
		r.mu.Lock()
		if r.origin == nil {
			r.origin = map[string]clusterKey{}
		}
		for _, o := range objs {
			r.origin[what+" "+o.ID], r.origin[what+" "+o.Name] = k, k
		}
		r.mu.Unlock()
		out = append(out, objs...)
	}
	return out, nil
}

func (r *router) RemoveNetwork(ctx context.Context, id string) error {
	e, err := r.objectEngine(ctx, "networks", id)
	if err != nil {
		return err
	}
	return e.RemoveNetwork(ctx, id)
}

func (r *router) RemoveVolume(ctx context.Context, name string) error {
	e, err := r.objectEngine(ctx, "volumes", name)
	if err != nil {
		return err
	}
	return e.RemoveVolume(ctx, name)
}

// objectEngine returns the engine a network or volume is on: the cluster
// it was listed on or its ID names, else the chosen runtime's (where
// the run's own objects were created).
func (r *router) objectEngine(ctx context.Context, what, id string) (clusterEngine, error) {
	r.mu.Lock()
	k, listed := r.origin[what+" "+id]
	r.mu.Unlock()
	switch {
	case listed:
		return r.clusters.get(ctx, k)
	case kube.IsID(id):
		return r.engine(ctx, id)
	case r.home != nil:
		return r.clusters.get(ctx, *r.home)
	}
	return r.local, nil
}

func (r *router) ImageID(ctx context.Context, ref string) (string, error) {
	return r.local.ImageID(ctx, ref)
}

func (r *router) BuildImage(ctx context.Context, req runtime.BuildRequest, onMsg func(runtime.BuildMessage)) error {
	return r.local.BuildImage(ctx, req, onMsg)
}

func (r *router) ListImages(ctx context.Context, label string) ([]runtime.ImageInfo, error) {
	return r.local.ListImages(ctx, label)
}

func (r *router) RemoveImage(ctx context.Context, ref string) error {
	return r.local.RemoveImage(ctx, ref)
}
