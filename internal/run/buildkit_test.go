package run

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/run/runtest"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

func mustConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("agent.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// volumeFake is the fake engine with volumes, so docker:dind can run on
// it. Its BuildKit sidecar says it serves, as buildkitd does, unless
// neverReady is set: then it prints that and runs on without serving.
type volumeFake struct {
	*runtest.Engine
	mu         sync.Mutex
	volumes    []string
	neverReady error
	sidecarOps []string                      // "attach ROLE", "start ROLE", in order
	copies     map[string][]runtime.CopyFile // by container
}

func (v *volumeFake) CopyFilesTo(_ context.Context, id string, files []runtime.CopyFile) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.copies == nil {
		v.copies = map[string][]runtime.CopyFile{}
	}
	v.copies[id] = append(v.copies[id], files...)
	return nil
}

func (v *volumeFake) role(id string) string {
	if c, ok := v.Containers[id]; ok {
		return c.Spec.Labels["moat.role"]
	}
	return ""
}

func (v *volumeFake) note(op, id string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	role := v.role(id)
	if role != "agent" {
		v.sidecarOps = append(v.sidecarOps, op+" "+role)
	}
	return role
}

func (v *volumeFake) AttachContainer(ctx context.Context, id string, opts runtime.AttachOptions) (runtime.Stream, error) {
	if v.note("attach", id) == "buildkit" && v.neverReady != nil {
		return &runningStream{out: v.neverReady.Error() + "\n", closed: make(chan struct{})}, nil
	}
	return v.Engine.AttachContainer(ctx, id, opts)
}

func (v *volumeFake) StartContainer(ctx context.Context, id string) error {
	v.note("start", id)
	return v.Engine.StartContainer(ctx, id)
}

// runningStream is the output of a container that runs on: it ends only
// when closed.
type runningStream struct {
	out    string
	once   sync.Once
	closed chan struct{}
}

func (s *runningStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *runningStream) CloseWrite() error           { return nil }
func (s *runningStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
func (s *runningStream) CopyOutput(stdout, _ io.Writer) error {
	io.WriteString(stdout, s.out)
	<-s.closed
	return nil
}

func (v *volumeFake) CreateVolume(_ context.Context, name string, _ map[string]string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.volumes = append(v.volumes, name)
	return nil
}

// newBuildkitManager returns a manager on the fake engine with volumes
// whose BuildKit daemon, if neverReady is set, never says it serves.
func newBuildkitManager(t *testing.T, neverReady error) (*Manager, *volumeFake) {
	t.Helper()
	m, eng := newTestManager(t)
	vf := &volumeFake{Engine: eng, neverReady: neverReady}
	m.Engine = vf
	return m, vf
}

func specsByRole(eng *runtest.Engine, role string) []runtime.ContainerSpec {
	var out []runtime.ContainerSpec
	for _, c := range eng.Containers {
		if c.Spec.Labels["moat.role"] == role {
			out = append(out, c.Spec)
		}
	}
	return out
}

func TestBuildkitImageMissingIsRefusedEarly(t *testing.T) {
	m, eng := newBuildkitManager(t, nil)
	ws := writeWorkspace(t, "dependencies: [docker:dind]\n")
	_, err := m.Run(context.Background(), Options{Workspace: ws, Command: []string{"true"}})
	var missing *BuildkitImageError
	if !errors.As(err, &missing) || missing.Image != DefaultBuildkitImage || !strings.Contains(missing.Hint(), "docker load") {
		t.Fatalf("got %v, want a BuildkitImageError for %s with how to provide it", err, DefaultBuildkitImage)
	}
	if eng.Builds != 0 || len(eng.Containers) != 0 {
		t.Fatalf("refused late: %d builds, %d containers", eng.Builds, len(eng.Containers))
	}
}

// pullFake is the fake engine with volumes that can pull images; it
// counts pulls and builds.
type pullFake struct {
	*volumeFake
	pulls []string
}

func (f *pullFake) PullImage(_ context.Context, ref string) error {
	f.pulls = append(f.pulls, ref)
	f.AddImage(ref)
	return nil
}

// Nothing is pulled or built for a workspace the user has not approved:
// a hostile agent.yaml must not make moat fetch an image first.
func TestNoPullBeforeApproval(t *testing.T) {
	m, vf := newBuildkitManager(t, nil)
	pf := &pullFake{volumeFake: vf}
	m.Engine = pf
	m.AskApproval = nil
	ws := writeWorkspace(t, "dependencies: [docker:dind]\ndocker: {cache: true}\n")
	_, err := m.Run(context.Background(), Options{Workspace: ws, Command: []string{"true"}})
	var na *NotApprovedError
	if !errors.As(err, &na) {
		t.Fatalf("got %v, want NotApprovedError", err)
	}
	if len(pf.pulls) != 0 || vf.Builds != 0 || len(vf.volumes) != 0 || len(vf.Containers) != 0 {
		t.Fatalf("before approval: pulls %v, %d builds, volumes %v, %d containers; want none",
			pf.pulls, vf.Builds, vf.volumes, len(vf.Containers))
	}
}

// The sidecar runs the image moat checked, by ID; agent.yaml cannot name
// one, and a default tag that now names another image is refused.
func TestBuildkitImageByID(t *testing.T) {
	m, vf := newBuildkitManager(t, nil)
	pf := &pullFake{volumeFake: vf}
	m.Engine = pf
	ws := writeWorkspace(t, "dependencies: [docker:dind]\n")
	if _, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	bks := specsByRole(vf.Engine, "buildkit")
	if len(pf.pulls) != 1 || len(bks) != 1 || bks[0].Image != helperImageOf(t, vf.Engine, "sha256:"+DefaultBuildkitImage) {
		t.Fatalf("pulls %v, sidecars %d: want the default pulled once and run by its ID, with moat's helper added", pf.pulls, len(bks))
	}
	// Something re-tags the default release (the agent of a docker:host run could).
	vf.SetImage(DefaultBuildkitImage, "sha256:planted")
	_, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}})
	var moved *BuildkitImageChangedError
	if !errors.As(err, &moved) || moved.Now != "sha256:planted" || !strings.Contains(moved.Hint(), "buildkit_image: sha256:planted") {
		t.Fatalf("got %v, want BuildkitImageChangedError naming the new ID", err)
	}
}

func TestBuildkitSidecarJoinsTheAgent(t *testing.T) {
	m, vf := newBuildkitManager(t, nil)
	vf.AddImage(DefaultBuildkitImage)
	ws := writeWorkspace(t, "dependencies: [docker:dind]\n")
	res, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	agent := agentSpec(t, vf.Engine)
	if envValue(agent.Env, "BUILDKIT_HOST") != "tcp://buildkit:1234" || !strings.HasSuffix(envValue(agent.Env, "NO_PROXY"), ",buildkit") ||
		!slices.Contains(agent.ExtraHosts, "buildkit:127.0.0.1") {
		t.Fatalf("agent env %v hosts %v: want BUILDKIT_HOST, buildkit outside the proxy and on loopback", agent.Env, agent.ExtraHosts)
	}
	bks := specsByRole(vf.Engine, "buildkit")
	if len(bks) != 1 {
		t.Fatalf("got %d BuildKit sidecars, want 1", len(bks))
	}
	bk := bks[0]
	want := runtime.Join{Container: res.Run.ContainerID, PID: true}
	if bk.Join == nil || *bk.Join != want || bk.AutoRemove {
		t.Fatalf("sidecar joins %+v autoremove %v: want the agent's network and PID namespaces, kept for its output until moat removes it", bk.Join, bk.AutoRemove)
	}
	if !slices.Equal(bk.CapAdd, []string{"CHOWN", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN"}) || !slices.Equal(bk.CapDrop, []string{"ALL"}) ||
		bk.Image != helperImageOf(t, vf.Engine, "sha256:"+DefaultBuildkitImage) {
		t.Fatalf("sidecar caps +%v -%v image %s", bk.CapAdd, bk.CapDrop, bk.Image)
	}
	if bk.UnmaskSystemPaths || len(bk.SecurityOpt) != 1 || !strings.HasPrefix(bk.SecurityOpt[0], "seccomp={") {
		t.Errorf("sidecar: unmasked %v, security options %.60q; want Docker's masks and moat's seccomp profile", bk.UnmaskSystemPaths, bk.SecurityOpt)
	}
	if len(bk.Mounts) != 0 || len(bk.SharedDirs) != 0 || len(bk.MoatFiles) != 0 || bk.EngineSocket != "" {
		t.Errorf("sidecar mounts %v %v %v %q: nothing from the host may be mounted", bk.Mounts, bk.SharedDirs, bk.MoatFiles, bk.EngineSocket)
	}
	if len(bk.Entrypoint) < 2 || bk.Entrypoint[0] != buildkitHelper || bk.Entrypoint[1] != "userns-run" ||
		!slices.Contains(bk.Entrypoint, "--setup") || bk.Entrypoint[len(bk.Entrypoint)-1] != "--" || bk.Cmd[0] != "buildkitd" {
		t.Errorf("sidecar entrypoint %v cmd %v: want moat's helper starting buildkitd in a user namespace", bk.Entrypoint, bk.Cmd)
	}
	if bk.User != "0:0" {
		t.Errorf("sidecar user %q, want the container's root for the helper, whatever the image's USER", bk.User)
	}
	if len(vf.copies) != 0 {
		t.Errorf("copied into the sidecar %v, want nothing (the helper is in its image)", vf.copies)
	}
	if len(bk.Volumes) != 1 || !slices.Contains(vf.volumes, bk.Volumes[0].Name) {
		t.Fatalf("sidecar volumes %v, created %v", bk.Volumes, vf.volumes)
	}
	// Readiness is buildkitd's own line, read from the sidecar's output
	// attached before it starts: no line can be missed, nothing is run in
	// the sidecar to ask.
	if a, st := slices.Index(vf.sidecarOps, "attach buildkit"), slices.Index(vf.sidecarOps, "start buildkit"); a < 0 || st < 0 || a > st {
		t.Fatalf("sidecar operations %v: want the BuildKit sidecar attached before it starts", vf.sidecarOps)
	}
	if !slices.ContainsFunc(res.Run.Privileges, func(p state.Privilege) bool { return strings.Contains(p.Reason, "BuildKit") }) {
		t.Fatalf("privileges %+v lack the sidecar's", res.Run.Privileges)
	}
}

func TestBuildkitSidecarNeverReadyUndoesTheRun(t *testing.T) {
	m, vf := newBuildkitManager(t, errors.New("connection refused"))
	vf.AddImage(DefaultBuildkitImage)
	floor := buildkitReadyFloor
	buildkitReadyFloor = time.Second
	t.Cleanup(func() { buildkitReadyFloor = floor })
	ws := writeWorkspace(t, "dependencies: [docker:dind]\n")
	_, err := m.Run(context.Background(), Options{Workspace: ws, Command: []string{"true"}})
	var be *BuildkitError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "no answer within 1s") {
		t.Fatalf("got %v, want a BuildkitError after the timeout", err)
	}
	if runs, _ := m.Store.List(); len(runs) != 0 || len(vf.Containers) != 0 {
		t.Fatalf("left %d records and %d containers", len(runs), len(vf.Containers))
	}
}

func TestBuildkitOff(t *testing.T) {
	m, vf := newBuildkitManager(t, nil)
	ws := writeWorkspace(t, "dependencies: [docker:dind]\ndocker: {buildkit: false}\n")
	if _, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(specsByRole(vf.Engine, "buildkit")); n != 0 || hasEnv(agentSpec(t, vf.Engine).Env, "BUILDKIT_HOST") {
		t.Fatalf("buildkit: false still made %d sidecars or BUILDKIT_HOST", n)
	}
}

func TestBuildkitConfigIsCopiedNotPassed(t *testing.T) {
	m, vf := newBuildkitManager(t, nil)
	vf.AddImage(DefaultBuildkitImage)
	ws := writeWorkspace(t, "dependencies: [docker:dind]\ndocker: {insecure_registries: [\"registry.test:5000\"]}\n")
	if _, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"sleep"}}); err != nil {
		t.Fatal(err)
	}
	bk := specsByRole(vf.Engine, "buildkit")[0]
	if i := slices.Index(bk.Cmd, "--config"); i < 0 || i+1 >= len(bk.Cmd) || bk.Cmd[i+1] != buildkitConfigDoc {
		t.Errorf("buildkitd's command %v, want --config %s", bk.Cmd, buildkitConfigDoc)
	}
	var conf string
	for _, files := range vf.copies {
		for _, f := range files {
			if f.Path == buildkitConfigDoc {
				conf = string(f.Data)
			}
		}
	}
	if !strings.Contains(conf, `[registry."registry.test:5000"]`) || !strings.Contains(conf, "http = true") {
		t.Errorf("copied configuration %q, want the registry over HTTP", conf)
	}
	for _, kv := range bk.Env {
		if strings.Contains(kv, "registry.test") {
			t.Errorf("sidecar environment %q: the configuration is a copied file", kv)
		}
	}
}

// helperImageOf returns the ID of the helper image built from base: the
// one build whose Dockerfile starts from base and copies moat's binary to
// the helper's path, from a context holding moat's binary.
func helperImageOf(t *testing.T, f *runtest.Engine, base string) string {
	t.Helper()
	var found []string
	for _, req := range f.BuildRequests {
		files := map[string][]byte{}
		tr := tar.NewReader(bytes.NewReader(req.Context.(*bytes.Buffer).Bytes()))
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			files[hdr.Name], _ = io.ReadAll(tr)
		}
		df := string(files["Dockerfile"])
		if strings.Contains(df, "\nFROM "+base+"\n") && strings.Contains(df, "\nCOPY moat "+buildkitHelper+"\n") && len(files["moat"]) > 0 {
			found = append(found, req.Tag)
		}
	}
	if len(found) != 1 {
		t.Fatalf("helper images built from %s: %v, want one", base, found)
	}
	id, err := f.ImageID(context.Background(), found[0])
	if err != nil {
		t.Fatal(err)
	}
	return id
}
