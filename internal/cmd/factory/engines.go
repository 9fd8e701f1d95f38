package factory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/runtime/kube"
	"github.com/moatsh/moat/internal/state"
)

// clusterEngine is a cluster's engine, as the orchestrator sees an
// engine. The router sends it calls on containers, networks and volumes
// only: images are always the local engine's.
type clusterEngine interface{ run.Engine }

// newClusterEngine connects to one cluster's namespace through the
// cluster adapter (tests replace it with a fake).
var newClusterEngine = func(ctx context.Context, o kube.Options) (clusterEngine, error) {
	e, err := kube.New(ctx, o)
	if err != nil {
		return nil, err // an untyped nil: no typed-nil engine
	}
	return e, nil
}

// dockerRouter is the engine when Docker is the chosen runtime: the
// router's methods for containers, listings and images, and everything
// else the Docker engine has (its socket, volumes, file copies, host
// resources, ...), so that every optional interface the orchestrator
// asks for behaves as with the Docker engine alone.
type dockerRouter struct {
	*router
	dockerExtras
}

// dockerExtras holds the Docker engine one level deeper than the router,
// so that where both have a method the router's is the one promoted.
type dockerExtras struct{ *runtime.Docker }

// clusterRouter is the engine when Kubernetes is the chosen runtime. It
// has what the cluster's engine can do, and no more: no socket to share
// (docker:host is refused, naming the cluster), a nested Docker daemon's
// volume and file copies into a container only if the cluster's engine
// has them (see withClusterExtras).
type clusterRouter struct {
	*router
	homeEngine clusterEngine
	docker     *runtime.Docker
}

// SocketPath refuses docker:host: a pod cannot reach this machine's
// Docker engine, and the cluster's own must not be handed to an agent.
func (c *clusterRouter) SocketPath() (string, error) {
	return "", &runtime.UnsupportedError{
		Feature: "docker:host", Engine: c.home.String(),
		Reason: "the run's pod cannot reach a Docker engine on this machine",
		Remedy: "Run on a Docker engine with --runtime docker (docker:dind is not available on a cluster either).",
	}
}

// RefuseFeature is the cluster's own reason against a feature: docker:host
// never, docker:dind as its engine says.
func (c *clusterRouter) RefuseFeature(ctx context.Context, feature string) error {
	if feature == "docker:host" {
		_, err := c.SocketPath()
		return err
	}
	if fr, ok := c.homeEngine.(interface {
		RefuseFeature(context.Context, string) error
	}); ok {
		return fr.RefuseFeature(ctx, feature)
	}
	return nil
}

// HostResources is the cluster's answer if its engine has one, else none
// (no defaults from this machine's size: the pod runs elsewhere).
func (c *clusterRouter) HostResources(ctx context.Context) (runtime.HostResources, error) {
	if hr, ok := c.homeEngine.(interface {
		HostResources(context.Context) (runtime.HostResources, error)
	}); ok {
		return hr.HostResources(ctx)
	}
	return runtime.HostResources{}, nil
}

// Host names the engine for the orchestrator's cache of its resources.
func (c *clusterRouter) Host() string {
	return kube.ID{Context: c.home.Context, Namespace: c.home.Namespace}.String()
}

// StatusCommand is what shows whether the cluster works.
func (c *clusterRouter) StatusCommand() string {
	if sc, ok := c.homeEngine.(interface{ StatusCommand() string }); ok {
		return sc.StatusCommand()
	}
	cmd := "kubectl"
	if c.home.Context != "" {
		cmd += " --context " + c.home.Context
	}
	if c.home.Namespace != "" {
		cmd += " --namespace " + c.home.Namespace
	}
	return cmd + " get pods"
}

// PullImage and ProvideImageRemedy are about local images, which the
// local engine holds.
func (c *clusterRouter) PullImage(ctx context.Context, ref string) error {
	return c.docker.PullImage(ctx, ref)
}

func (c *clusterRouter) ProvideImageRemedy(ref string) string {
	return c.docker.ProvideImageRemedy(ref)
}

// The optional interfaces a cluster's engine may have, which the
// orchestrator checks for on its engine.
type (
	volumeCreator interface {
		CreateVolume(ctx context.Context, name string, labels map[string]string) error
	}
	fileCopier interface {
		CopyFilesTo(ctx context.Context, id string, files []runtime.CopyFile) error
	}
)

// withClusterExtras returns c with the volumes (docker:dind) and file
// copies (the BuildKit sidecar) of the cluster's engine, where it has them.
func withClusterExtras(c *clusterRouter) run.Engine {
	vc, vols := c.homeEngine.(volumeCreator)
	fc, files := c.homeEngine.(fileCopier)
	switch {
	case vols && files:
		return struct {
			*clusterRouter
			volumeCreator
			fileCopier
		}{c, vc, fc}
	case vols:
		return struct {
			*clusterRouter
			volumeCreator
		}{c, vc}
	case files:
		return struct {
			*clusterRouter
			fileCopier
		}{c, fc}
	}
	return c
}

// engineConfig is what newEngine chooses and builds the engine from.
type engineConfig struct {
	docker        *runtime.Docker
	local         run.Engine // docker, or a BuildKit engine that builds elsewhere
	global        *config.Global
	choice        cmdutil.RuntimeChoice
	store         *state.Store
	sidecarBinary string
}

// newEngine returns the Manager's engine: the runtime the flags choose,
// else config.yaml's, else Docker, behind a router that sends calls on a
// cluster's containers to that cluster.
func newEngine(ctx context.Context, ec engineConfig) (run.Engine, error) {
	rt := ec.choice.Runtime
	if rt == "" {
		rt = ec.global.Runtime
	}
	if rt == "" {
		rt = config.RuntimeDocker
	}
	if err := ec.choice.CheckResolved(rt); err != nil {
		return nil, err
	}
	kubeconfig, err := expandHome(ec.global.Kubernetes.Kubeconfig)
	if err != nil {
		return nil, err
	}
	home := clusterKey{Context: ec.global.Kubernetes.Context, Namespace: ec.global.Kubernetes.Namespace}
	if ec.choice.Context != "" {
		home.Context = ec.choice.Context
	}
	if ec.choice.Namespace != "" {
		home.Namespace = ec.choice.Namespace
	}
	r := &router{
		local: ec.local,
		clusters: &clusters{build: withClusterKey(ec.store, newClusterEngine), opts: kube.Options{
			Kubeconfig: kubeconfig, Registry: ec.global.Registry, Images: ec.docker, SidecarBinary: ec.sidecarBinary,
		}},
		activeClusters: sync.OnceValues(func() ([]clusterKey, error) { return activeClusters(ec.store) }),
		runContainer:   func(runID string) string { return runContainer(ec.store, runID) },
	}
	if rt == config.RuntimeKubernetes || ec.global.Runtime == config.RuntimeKubernetes {
		r.listed = []clusterKey{home}
	}
	if rt == config.RuntimeDocker {
		return &dockerRouter{router: r, dockerExtras: dockerExtras{ec.docker}}, nil
	}
	r.home = &home
	he, err := r.clusters.get(ctx, home)
	if err != nil {
		return nil, err
	}
	return withClusterExtras(&clusterRouter{router: r, homeEngine: he, docker: ec.docker}), nil
}

// withClusterKey builds cluster engines with the moat home's key for what
// moat records on its pods (state.Store.ClusterKey), read or made when the
// first one is built: a run on Docker never needs it.
func withClusterKey(store *state.Store, build func(context.Context, kube.Options) (clusterEngine, error)) func(context.Context, kube.Options) (clusterEngine, error) {
	return func(ctx context.Context, o kube.Options) (clusterEngine, error) {
		key, err := store.ClusterKey()
		if err != nil {
			return nil, err
		}
		o.AnnotationKey = key
		return build(ctx, o)
	}
}

// activeClusters returns the clusters the records of active runs name.
func activeClusters(store *state.Store) ([]clusterKey, error) {
	runs, err := store.List()
	if err != nil {
		return nil, fmt.Errorf("finding the clusters of active runs: %w", err)
	}
	var out []clusterKey
	for _, r := range runs {
		if !r.Status.Active() || !kube.IsID(r.ContainerID) {
			continue
		}
		if k, err := keyOf(r.ContainerID); err == nil && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// runContainer returns the container ID run runID's record names; ""
// when there is none, or no record.
func runContainer(store *state.Store, runID string) string {
	if r, err := store.Load(runID); err == nil {
		return r.ContainerID
	}
	return ""
}

// expandHome expands config.yaml's leading "~/".
func expandHome(path string) (string, error) {
	rest, ok := strings.CutPrefix(path, "~/")
	if !ok {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding your home directory for kubernetes.kubeconfig %q: %w", path, err)
	}
	return filepath.Join(home, rest), nil
}
