package run

import (
	"context"
	"errors"
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
// it, and exec, which answers the sidecar's readiness probe with probeErr.
type volumeFake struct {
	*runtest.Engine
	mu       sync.Mutex
	volumes  []string
	probeErr error
	execs    [][]string
}

func (v *volumeFake) Exec(_ context.Context, id string, cmd []string) (int, []byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.execs = append(v.execs, cmd)
	if v.probeErr != nil {
		return 1, []byte(v.probeErr.Error()), nil
	}
	return 0, []byte("ID  PLATFORMS\nw1  linux/amd64\n"), nil
}

func (v *volumeFake) CreateVolume(_ context.Context, name string, _ map[string]string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.volumes = append(v.volumes, name)
	return nil
}

// newBuildkitManager returns a manager on the fake engine with volumes
// whose readiness probe answers with probeErr.
func newBuildkitManager(t *testing.T, probeErr error) (*Manager, *volumeFake) {
	t.Helper()
	m, eng := newTestManager(t)
	vf := &volumeFake{Engine: eng, probeErr: probeErr}
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

func TestBuildkitImageChoice(t *testing.T) {
	m, _ := newBuildkitManager(t, nil)
	p := &plan{cfg: mustConfig(t, "dependencies: [docker:dind]\n")}
	if got := m.buildkitImage(p); got != DefaultBuildkitImage {
		t.Errorf("default: got %s", got)
	}
	m.BuildkitImage = "global/bk:1"
	if got := m.buildkitImage(p); got != "global/bk:1" {
		t.Errorf("config.yaml: got %s", got)
	}
	p.cfg = mustConfig(t, "dependencies: [docker:dind]\ndocker: {buildkit_image: 'local/bk:2'}\n")
	if got := m.buildkitImage(p); got != "local/bk:2" {
		t.Errorf("agent.yaml: got %s, want it to win", got)
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
	want := "container:" + res.Run.ContainerID
	if bk.Network != want || bk.PidMode != want || bk.AutoRemove {
		t.Fatalf("sidecar network %q pid %q autoremove %v: want the agent's namespaces, kept for its output until moat removes it", bk.Network, bk.PidMode, bk.AutoRemove)
	}
	if !slices.Contains(bk.CapAdd, "SYS_ADMIN") || !slices.Contains(bk.CapDrop, "ALL") || bk.Image != DefaultBuildkitImage {
		t.Fatalf("sidecar caps +%v -%v image %s", bk.CapAdd, bk.CapDrop, bk.Image)
	}
	if len(bk.Mounts) != 0 {
		t.Errorf("sidecar mounts %v: nothing from the host may be mounted", bk.Mounts)
	}
	if len(bk.Volumes) != 1 || !slices.Contains(vf.volumes, bk.Volumes[0].Name) {
		t.Fatalf("sidecar volumes %v, created %v", bk.Volumes, vf.volumes)
	}
	if len(vf.execs) == 0 || vf.execs[0][0] != "buildctl" || !slices.Contains(vf.execs[0], "workers") {
		t.Fatalf("probes %v, want the image's buildctl listing the workers", vf.execs)
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
