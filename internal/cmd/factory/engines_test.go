package factory

import (
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/runtime/kube"
	"github.com/moatsh/moat/internal/state"
)

// fakeEngine records every call it gets as "NAME Method ARG" in a log it
// shares with the other engines of a test.
type fakeEngine struct {
	name       string
	log        *[]string
	containers []runtime.ContainerInfo
	volumes    []runtime.ObjectInfo
	listErr    error
}

func (f *fakeEngine) note(method, arg string) { *f.log = append(*f.log, f.name+" "+method+" "+arg) }

func (f *fakeEngine) CreateContainer(_ context.Context, spec runtime.ContainerSpec) (string, error) {
	f.note("CreateContainer", spec.Name)
	return f.name + "-" + spec.Name, nil
}
func (f *fakeEngine) StartContainer(_ context.Context, id string) error {
	f.note("StartContainer", id)
	return nil
}
func (f *fakeEngine) WaitContainer(_ context.Context, id string) (int, error) {
	f.note("WaitContainer", id)
	return 0, nil
}
func (f *fakeEngine) StopContainer(_ context.Context, id string, _ time.Duration) error {
	f.note("StopContainer", id)
	return nil
}
func (f *fakeEngine) RemoveContainer(_ context.Context, id string) error {
	f.note("RemoveContainer", id)
	return nil
}
func (f *fakeEngine) InspectContainer(_ context.Context, id string) (runtime.ContainerInfo, error) {
	f.note("InspectContainer", id)
	return runtime.ContainerInfo{ID: id}, nil
}
func (f *fakeEngine) ListContainers(_ context.Context, label string) ([]runtime.ContainerInfo, error) {
	f.note("ListContainers", label)
	return f.containers, f.listErr
}
func (f *fakeEngine) ContainerLogs(_ context.Context, id string, _ runtime.LogOptions, _, _ io.Writer) error {
	f.note("ContainerLogs", id)
	return nil
}
func (f *fakeEngine) AttachContainer(_ context.Context, id string, _ runtime.AttachOptions) (runtime.Stream, error) {
	f.note("AttachContainer", id)
	return nil, nil
}
func (f *fakeEngine) ResizeTTY(_ context.Context, id string, _, _ uint) error {
	f.note("ResizeTTY", id)
	return nil
}
func (f *fakeEngine) ListNetworks(_ context.Context, label string) ([]runtime.ObjectInfo, error) {
	f.note("ListNetworks", label)
	return nil, f.listErr
}
func (f *fakeEngine) RemoveNetwork(_ context.Context, id string) error {
	f.note("RemoveNetwork", id)
	return nil
}
func (f *fakeEngine) ListVolumes(_ context.Context, label string) ([]runtime.ObjectInfo, error) {
	f.note("ListVolumes", label)
	return f.volumes, f.listErr
}
func (f *fakeEngine) RemoveVolume(_ context.Context, name string) error {
	f.note("RemoveVolume", name)
	return nil
}
func (f *fakeEngine) ImageID(_ context.Context, ref string) (string, error) {
	f.note("ImageID", ref)
	return "sha256:1", nil
}
func (f *fakeEngine) BuildImage(_ context.Context, req runtime.BuildRequest, _ func(runtime.BuildMessage)) error {
	f.note("BuildImage", req.Tag)
	return nil
}
func (f *fakeEngine) ListImages(_ context.Context, label string) ([]runtime.ImageInfo, error) {
	f.note("ListImages", label)
	return nil, nil
}
func (f *fakeEngine) RemoveImage(_ context.Context, ref string) error {
	f.note("RemoveImage", ref)
	return nil
}

// fakeClusterWithExtras is a cluster engine that can also create volumes
// and copy files into containers.
type fakeClusterWithExtras struct{ *fakeEngine }

func (f fakeClusterWithExtras) CreateVolume(_ context.Context, name string, _ map[string]string) error {
	f.note("CreateVolume", name)
	return nil
}
func (f fakeClusterWithExtras) CopyFilesTo(_ context.Context, id string, _ []runtime.CopyFile) error {
	f.note("CopyFilesTo", id)
	return nil
}

// fakeClusters builds a recording fake per cluster, named
// "CONTEXT/NAMESPACE", and records the options each was built with.
type fakeClusters struct {
	log     *[]string
	built   []kube.Options
	engines map[string]*fakeEngine
	extras  bool // the engines can create volumes and copy files in
	err     error
}

func (fc *fakeClusters) build(_ context.Context, o kube.Options) (clusterEngine, error) {
	fc.built = append(fc.built, o)
	if fc.err != nil {
		return nil, fc.err
	}
	name := o.Context + "/" + o.Namespace
	e := fc.engines[name]
	if e == nil {
		e = &fakeEngine{name: name, log: fc.log}
	}
	if fc.extras {
		return fakeClusterWithExtras{e}, nil
	}
	return e, nil
}

// newTestRouter is a router over a fake local engine ("docker") and fake
// clusters, with the runs of store.
func newTestRouter(t *testing.T, home *clusterKey, listed ...clusterKey) (*router, *fakeClusters, *[]string, *state.Store) {
	log := &[]string{}
	fc := &fakeClusters{log: log, engines: map[string]*fakeEngine{}}
	store := &state.Store{Root: t.TempDir()}
	r := &router{
		local:          &fakeEngine{name: "docker", log: log},
		clusters:       &clusters{build: fc.build, opts: kube.Options{Kubeconfig: "/k", Registry: "reg.example:5000/moat"}},
		home:           home,
		listed:         listed,
		activeClusters: func() ([]clusterKey, error) { return activeClusters(store) },
		runContainer:   func(runID string) string { return runContainer(store, runID) },
	}
	return r, fc, log, store
}

func pod(ctxName, ns, name string) string {
	return kube.ID{Context: ctxName, Namespace: ns, Pod: name}.String()
}

func TestRouterSendsEachContainerCallToItsEngine(t *testing.T) {
	r, fc, log, _ := newTestRouter(t, nil)
	ctx := context.Background()
	onLab, onProd := pod("lab", "agents", "p1"), pod("prod/eu", "ci", "p2")
	for _, id := range []string{"abc123", onLab, onProd, onLab} {
		r.StartContainer(ctx, id)
		r.WaitContainer(ctx, id)
		r.StopContainer(ctx, id, time.Second)
		r.InspectContainer(ctx, id)
		r.ContainerLogs(ctx, id, runtime.LogOptions{}, io.Discard, io.Discard)
		r.AttachContainer(ctx, id, runtime.AttachOptions{})
		r.ResizeTTY(ctx, id, 1, 1)
		r.RemoveContainer(ctx, id)
	}
	methods := []string{"StartContainer", "WaitContainer", "StopContainer", "InspectContainer", "ContainerLogs", "AttachContainer", "ResizeTTY", "RemoveContainer"}
	var want []string
	for _, at := range []struct{ engine, id string }{{"docker", "abc123"}, {"lab/agents", onLab}, {"prod/eu/ci", onProd}, {"lab/agents", onLab}} {
		for _, m := range methods {
			want = append(want, at.engine+" "+m+" "+at.id)
		}
	}
	if !slices.Equal(*log, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(*log, "\n"), strings.Join(want, "\n"))
	}
	// One engine per cluster, built when first needed, with config.yaml's
	// kubeconfig and registry and the ID's context and namespace.
	wantBuilt := []kube.Options{
		{Kubeconfig: "/k", Registry: "reg.example:5000/moat", Context: "lab", Namespace: "agents"},
		{Kubeconfig: "/k", Registry: "reg.example:5000/moat", Context: "prod/eu", Namespace: "ci"},
	}
	if !reflect.DeepEqual(fc.built, wantBuilt) {
		t.Fatalf("built %+v, want %+v", fc.built, wantBuilt)
	}
}

func TestRouterFailsForAMalformedOrUnreachableClusterID(t *testing.T) {
	r, fc, _, _ := newTestRouter(t, nil)
	ctx := context.Background()
	if err := r.StartContainer(ctx, "k8s:no-namespace"); err == nil || !strings.Contains(err.Error(), "is not a Kubernetes container ID") {
		t.Fatalf("got %v, want the ID refused", err)
	}
	fc.err = errors.New("no such context")
	err := r.StopContainer(ctx, pod("gone", "agents", "p"), time.Second)
	if err == nil || err.Error() != `connecting to Kubernetes (context "gone", namespace "agents"): no such context` {
		t.Fatalf("got %v, want the cluster named", err)
	}
}

func TestRouterCreatesOnTheChosenRuntime(t *testing.T) {
	ctx := context.Background()
	r, _, log, _ := newTestRouter(t, nil)
	r.CreateContainer(ctx, runtime.ContainerSpec{Name: "a"})
	r, _, log2, _ := newTestRouter(t, &clusterKey{"lab", "agents"})
	r.CreateContainer(ctx, runtime.ContainerSpec{Name: "b"})
	// Images are the local engine's whatever the runtime.
	r.ImageID(ctx, "moat/run:1")
	r.BuildImage(ctx, runtime.BuildRequest{Tag: "moat/run:2"}, nil)
	r.ListImages(ctx, labels.ManagedFilter)
	r.RemoveImage(ctx, "moat/run:1")
	got := append(*log, *log2...)
	want := []string{"docker CreateContainer a", "lab/agents CreateContainer b", "docker ImageID moat/run:1",
		"docker BuildImage moat/run:2", "docker ListImages " + labels.ManagedFilter, "docker RemoveImage moat/run:1"}
	if !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

func TestRouterListsEveryClusterRunsMayBeOn(t *testing.T) {
	ctx := context.Background()
	home := clusterKey{"lab", "agents"}
	r, fc, log, store := newTestRouter(t, &home, home)
	fc.engines["lab/agents"] = &fakeEngine{name: "lab/agents", log: log,
		containers: []runtime.ContainerInfo{{ID: pod("lab", "agents", "p1")}}, volumes: []runtime.ObjectInfo{{ID: "v1", Name: "dind-1"}}}
	fc.engines["prod/ci"] = &fakeEngine{name: "prod/ci", log: log, containers: []runtime.ContainerInfo{{ID: pod("prod", "ci", "p2")}}}
	r.local.(*fakeEngine).containers = []runtime.ContainerInfo{{ID: "abc"}}
	// An active run on another cluster, a finished one on a third, and a
	// run on Docker.
	for _, rec := range []state.Run{
		{ID: "r1", Status: state.Running, ContainerID: pod("prod", "ci", "p2")},
		{ID: "r2", Status: state.Exited, ContainerID: pod("old", "x", "p3")},
		{ID: "r3", Status: state.Running, ContainerID: "abc"},
	} {
		if err := store.Create(&rec); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := r.ListContainers(ctx, labels.ManagedFilter)
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	if want := []string{"abc", pod("lab", "agents", "p1"), pod("prod", "ci", "p2")}; err != nil || !slices.Equal(ids, want) {
		t.Fatalf("listed %q, %v; want %q", ids, err, want)
	}
	// One run's listing asks only its own engine.
	*log = nil
	r.ListContainers(ctx, labels.RunFilter("r1"))
	r.ListContainers(ctx, labels.RunFilter("r3"))
	want := []string{"docker ListContainers " + labels.RunFilter("r1"), "prod/ci ListContainers " + labels.RunFilter("r1"),
		"docker ListContainers " + labels.RunFilter("r3")}
	if !slices.Equal(*log, want) {
		t.Fatalf("calls %q, want %q", *log, want)
	}
	// A volume is removed where it was listed; one never listed on the
	// chosen runtime.
	*log = nil
	if _, err := r.ListVolumes(ctx, labels.ManagedFilter); err != nil {
		t.Fatal(err)
	}
	r.RemoveVolume(ctx, "dind-1")
	r.RemoveVolume(ctx, "just-created")
	r.RemoveNetwork(ctx, pod("prod", "ci", "net"))
	want = []string{"docker ListVolumes " + labels.ManagedFilter, "lab/agents ListVolumes " + labels.ManagedFilter, "prod/ci ListVolumes " + labels.ManagedFilter,
		"lab/agents RemoveVolume dind-1", "lab/agents RemoveVolume just-created", "prod/ci RemoveNetwork " + pod("prod", "ci", "net")}
	if !slices.Equal(*log, want) {
		t.Fatalf("calls %q, want %q", *log, want)
	}
	// A cluster that does not answer fails the listing: its runs must not
	// look gone.
	fc.engines["prod/ci"].listErr = errors.New("connection refused")
	if _, err := r.ListContainers(ctx, labels.ManagedFilter); err == nil ||
		err.Error() != `listing containers on Kubernetes (context "prod", namespace "ci"): connection refused` {
		t.Fatalf("got %v, want the cluster's failure", err)
	}
}

func TestRouterWithDockerListsNoClusterUnlessARunIsOnOne(t *testing.T) {
	r, fc, log, _ := newTestRouter(t, nil)
	ctx := context.Background()
	r.ListContainers(ctx, "")
	r.ListVolumes(ctx, "")
	r.ListNetworks(ctx, "")
	r.RemoveVolume(ctx, "v")
	if want := []string{"docker ListContainers ", "docker ListVolumes ", "docker ListNetworks ", "docker RemoveVolume v"}; !slices.Equal(*log, want) || fc.built != nil {
		t.Fatalf("calls %q, clusters built %v; want %q and none", *log, fc.built, want)
	}
}

// The interfaces the orchestrator looks for on its engine (internal/run).
type (
	socketEngine  interface{ SocketPath() (string, error) }
	hostResourcer interface {
		HostResources(ctx context.Context) (runtime.HostResources, error)
	}
	statusCommander interface{ StatusCommand() string }
	removalWaiter   interface {
		WaitRemoved(ctx context.Context, id string) error
	}
	fileReader interface {
		CopyFileFrom(ctx context.Context, id, path string, limit int64) ([]byte, error)
	}
	imagePuller interface {
		PullImage(ctx context.Context, ref string) error
	}
	imageProvider interface{ ProvideImageRemedy(ref string) string }
	hoster        interface{ Host() string }
)

func newTestEngine(t *testing.T, g config.Global, choice cmdutil.RuntimeChoice, extras bool) (run.Engine, *fakeClusters, error) {
	t.Helper()
	fc := &fakeClusters{log: &[]string{}, engines: map[string]*fakeEngine{}, extras: extras}
	was := newClusterEngine
	newClusterEngine = fc.build
	t.Cleanup(func() { newClusterEngine = was })
	docker := &runtime.Docker{}
	e, err := newEngine(context.Background(), engineConfig{docker: docker, local: docker, global: &g, choice: choice,
		store: &state.Store{Root: t.TempDir()}, sidecarBinary: "/bin/moat-sidecar"})
	return e, fc, err
}

func TestNewEngineWithDockerHasEverythingDockerHas(t *testing.T) {
	e, fc, err := newTestEngine(t, config.Global{}, cmdutil.RuntimeChoice{}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Every method of the Docker adapter, so every optional interface the
	// orchestrator asks for, as with the Docker engine alone.
	docker, got := reflect.TypeOf(&runtime.Docker{}), reflect.TypeOf(e)
	for i := range docker.NumMethod() {
		m := docker.Method(i)
		if gm, ok := got.MethodByName(m.Name); !ok || gm.Type.NumIn() != m.Type.NumIn() {
			t.Errorf("the engine with the Docker runtime lacks Docker's %s", m.Name)
		}
	}
	if _, ok := e.(socketEngine); !ok {
		t.Error("the engine with the Docker runtime has no socket for docker:host")
	}
	if fc.built != nil {
		t.Fatalf("built clusters %v for a Docker run", fc.built)
	}
}

func TestNewEngineWithKubernetes(t *testing.T) {
	g := config.Global{Runtime: config.RuntimeKubernetes, Registry: "127.0.0.1:5000/moat",
		Kubernetes: config.Kubernetes{Kubeconfig: "/etc/kube.yaml", Context: "lab", Namespace: "agents"}}
	e, fc, err := newTestEngine(t, g, cmdutil.RuntimeChoice{Namespace: "ci"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// The flag's namespace, config.yaml's context, kubeconfig and registry.
	if len(fc.built) != 1 || fc.built[0].Context != "lab" || fc.built[0].Namespace != "ci" || fc.built[0].Kubeconfig != "/etc/kube.yaml" ||
		fc.built[0].Registry != "127.0.0.1:5000/moat" || fc.built[0].SidecarBinary != "/bin/moat-sidecar" || fc.built[0].Images == nil ||
		len(fc.built[0].AnnotationKey) != state.ClusterKeySize {
		t.Fatalf("built %+v, want the cluster of context lab, namespace ci, with config.yaml's kubeconfig and registry and the home's cluster key", fc.built)
	}
	// docker:host is refused up front, naming the cluster.
	_, err = e.(socketEngine).SocketPath()
	var unsupported *runtime.UnsupportedError
	if !errors.As(err, &unsupported) || err.Error() != `docker:host is not available with Kubernetes (context "lab", namespace "ci"): the run's pod cannot reach a Docker engine on this machine` {
		t.Fatalf("SocketPath: got %v, want docker:host refused", err)
	}
	// The orchestrator asks before anything is built: docker:host is the
	// same refusal; docker:dind is the cluster engine's to explain (this
	// fake has nothing against it).
	refuser := e.(interface {
		RefuseFeature(context.Context, string) error
	})
	if err := refuser.RefuseFeature(context.Background(), "docker:host"); !errors.As(err, &unsupported) {
		t.Errorf("RefuseFeature(docker:host): got %v, want the UnsupportedError", err)
	}
	if err := refuser.RefuseFeature(context.Background(), "docker:dind"); err != nil {
		t.Errorf("RefuseFeature(docker:dind) on an engine with nothing against it: %v", err)
	}
	if _, ok := e.(volumeCreator); ok {
		t.Error("the engine creates volumes for docker:dind, which the cluster's engine cannot")
	}
	if _, ok := e.(fileCopier); ok {
		t.Error("the engine copies files in for the BuildKit sidecar, which the cluster's engine cannot")
	}
	for name, ok := range map[string]bool{"HostResources": is[hostResourcer](e), "StatusCommand": is[statusCommander](e),
		"WaitRemoved": is[removalWaiter](e), "CopyFileFrom": is[fileReader](e), "PullImage": is[imagePuller](e),
		"ProvideImageRemedy": is[imageProvider](e), "Host": is[hoster](e)} {
		if !ok {
			t.Errorf("the engine with the Kubernetes runtime has no %s", name)
		}
	}
	if got := e.(statusCommander).StatusCommand(); got != "kubectl --context lab --namespace ci get pods" {
		t.Errorf("StatusCommand() = %q", got)
	}
	if err := e.(removalWaiter).WaitRemoved(context.Background(), pod("lab", "ci", "p")); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("WaitRemoved on a cluster that cannot: got %v, want errors.ErrUnsupported, as for an engine without it", err)
	}
	if _, err := e.(fileReader).CopyFileFrom(context.Background(), pod("lab", "ci", "p"), "/x", 1); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("CopyFileFrom on a cluster that cannot: got %v, want runtime.ErrNotFound", err)
	}

	// A cluster engine that can create volumes and copy files in lends
	// the router both.
	e, fc, err = newTestEngine(t, g, cmdutil.RuntimeChoice{}, true)
	if err != nil || !is[volumeCreator](e) || !is[fileCopier](e) {
		t.Fatalf("got %T, %v; want an engine with the cluster's volumes and file copies", e, err)
	}
	e.(volumeCreator).CreateVolume(context.Background(), "dind-1", nil)
	e.(fileCopier).CopyFilesTo(context.Background(), pod("lab", "agents", "p"), nil)
	if want := []string{"lab/agents CreateVolume dind-1", "lab/agents CopyFilesTo " + pod("lab", "agents", "p")}; !slices.Equal(*fc.log, want) {
		t.Fatalf("calls %q, want %q", *fc.log, want)
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

func TestNewEngineChoosesTheRuntime(t *testing.T) {
	kubeConfig := config.Global{Runtime: config.RuntimeKubernetes, Kubernetes: config.Kubernetes{Context: "lab"}}
	tests := []struct {
		name        string
		global      config.Global
		choice      cmdutil.RuntimeChoice
		wantCluster bool
		wantListed  []clusterKey
		wantErr     string
	}{
		{name: "default"},
		{name: "flag", choice: cmdutil.RuntimeChoice{Runtime: "kubernetes", Context: "ci"}, wantCluster: true, wantListed: []clusterKey{{"ci", ""}}},
		{name: "config.yaml", global: kubeConfig, wantCluster: true, wantListed: []clusterKey{{"lab", ""}}},
		// Docker for this run; config.yaml's cluster still listed, so that
		// its runs do not look gone.
		{name: "flag over config.yaml", global: kubeConfig, choice: cmdutil.RuntimeChoice{Runtime: "docker"}, wantListed: []clusterKey{{"lab", ""}}},
		{name: "namespace with Docker", choice: cmdutil.RuntimeChoice{Namespace: "ci"},
			wantErr: "--context and --namespace select a Kubernetes cluster, and this run uses the docker runtime; add --runtime kubernetes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, err := newTestEngine(t, tt.global, tt.choice, false)
			if tt.wantErr != "" {
				var flagErr *cmdutil.FlagError
				if !errors.As(err, &flagErr) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want usage error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var r *router
			switch e := e.(type) {
			case *dockerRouter:
				r = e.router
			case *clusterRouter:
				r = e.router
			default:
				t.Fatalf("got engine %T", e)
			}
			if (r.home != nil) != tt.wantCluster || !slices.Equal(r.listed, tt.wantListed) {
				t.Fatalf("home %v, listed %v; want a cluster home %v, listed %v", r.home, r.listed, tt.wantCluster, tt.wantListed)
			}
		})
	}
}

// resolvingEngine is a fake cluster engine that resolved the kubeconfig's
// current context to a name, which the IDs it returns carry.
type resolvingEngine struct {
	*fakeEngine
	context, namespace string
}

func (r resolvingEngine) Context() string   { return r.context }
func (r resolvingEngine) Namespace() string { return r.namespace }

// TestRouterReachesTheEngineThatCreatedAContainer: the home cluster named
// by "" (the current context) creates a container whose ID names the
// context it resolved; later calls by that ID reach the same engine (which
// alone knows a container it created and has not started), not a second
// one built for the name.
func TestRouterReachesTheEngineThatCreatedAContainer(t *testing.T) {
	home := clusterKey{Namespace: "agents"}
	r, fc, log, _ := newTestRouter(t, &home)
	var builds int
	r.clusters.build = func(ctx context.Context, o kube.Options) (clusterEngine, error) {
		builds++
		return resolvingEngine{&fakeEngine{name: "current", log: fc.log}, "lab", o.Namespace}, nil
	}
	ctx := context.Background()
	if _, err := r.CreateContainer(ctx, runtime.ContainerSpec{Name: "moat-x"}); err != nil {
		t.Fatal(err)
	}
	r.StartContainer(ctx, pod("lab", "agents", "moat-x"))
	if builds != 1 {
		t.Errorf("%d cluster engines built, want the home one alone", builds)
	}
	if want := []string{"current CreateContainer moat-x", "current StartContainer " + pod("lab", "agents", "moat-x")}; !slices.Equal(*log, want) {
		t.Errorf("calls %q, want %q", *log, want)
	}
}
