package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/run/runtest"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

func newTestManager(t *testing.T) (*Manager, *runtest.Engine) {
	t.Helper()
	eng := runtest.NewEngine(DefaultBaseImage)
	bin, err := runtest.StaticBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Every run is approved here; approval_test.go tests approval itself.
	approveAll := func(ApprovalRequest) (bool, error) { return true, nil }
	return &Manager{Engine: eng, Store: &state.Store{Root: t.TempDir()}, Version: "test", ProxyBinary: bin, AskApproval: approveAll}, eng
}

// agentSpec returns the spec of the one agent container eng holds.
func agentSpec(t *testing.T, eng *runtest.Engine) runtime.ContainerSpec {
	t.Helper()
	var specs []runtime.ContainerSpec
	for _, c := range eng.Containers {
		if c.Spec.Labels["moat.role"] == "agent" {
			specs = append(specs, c.Spec)
		}
	}
	if len(specs) != 1 {
		t.Fatalf("got %d agent containers, want 1", len(specs))
	}
	return specs[0]
}

func writeWorkspace(t *testing.T, agentYAML string) string {
	t.Helper()
	dir := t.TempDir()
	if agentYAML != "" {
		if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(agentYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunAttachedPassesExitCodeAndRemovesContainer(t *testing.T) {
	m, eng := newTestManager(t)
	eng.ExitCode = 7
	ws := writeWorkspace(t, "name: demo\nenv: {FOO: bar, KEEP: yaml}\ncommand: [make, test]\n")
	var out bytes.Buffer
	res, err := m.Run(context.Background(), Options{Workspace: ws, Env: []string{"FOO=flag"}, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 7 || res.Run.Status != state.Exited || *res.Run.ExitCode != 7 {
		t.Fatalf("got exit %d, state %s; want 7, exited", res.ExitCode, res.Run.Status)
	}
	if len(eng.Containers) != 0 {
		t.Fatalf("got %d containers left, want 0", len(eng.Containers))
	}
	if out.String() != "hello\n" {
		t.Fatalf("got output %q, want the stream's", out.String())
	}
	if !slices.Equal(res.Run.Command, []string{"make", "test"}) || res.Run.Name != "demo" {
		t.Fatalf("got command %v name %q, want agent.yaml's", res.Run.Command, res.Run.Name)
	}
	if _, err := os.Stat(m.Store.Path(res.Run.ID, state.DockerfileFile)); err != nil {
		t.Fatalf("Dockerfile not kept with the run: %v", err)
	}
}

func TestRunEnvFlagsOverrideAgentYAML(t *testing.T) {
	m, eng := newTestManager(t)
	ws := writeWorkspace(t, "env: {FOO: bar, KEEP: yaml}\n")
	t.Setenv("FROM_HOST", "h")
	_, err := m.Run(context.Background(), Options{
		Workspace: ws, Detach: true, Command: []string{"true"},
		Env: []string{"FOO=flag", "FROM_HOST", "UNSET_VAR_XYZ"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := agentEnviron(t, agentSpec(t, eng))
	for _, want := range []string{"FOO=flag", "KEEP=yaml", "FROM_HOST=h"} {
		if !slices.Contains(env, want) {
			t.Errorf("env %v lacks %s", env, want)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "FOO=bar") || strings.HasPrefix(e, "UNSET_VAR_XYZ") {
			t.Errorf("env has %s, want it overridden or absent", e)
		}
	}
}

func TestRunCreateFailureLeavesNothing(t *testing.T) {
	m, eng := newTestManager(t)
	eng.CreateErr = errors.New("boom")
	_, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want the create error", err)
	}
	if runs, _ := m.Store.List(); len(runs) != 0 {
		t.Fatalf("got %d run records after a failed create, want none", len(runs))
	}
}

// A name is refused while a run holds it, in a home with the run name
// index and in one from before it (the index is then built from the
// records under the store lock), and free once that run has stopped.
func TestRunRefusesNameOfActiveRun(t *testing.T) {
	for _, beforeTheIndex := range []bool{false, true} {
		t.Run(fmt.Sprintf("home from before the index: %v", beforeTheIndex), func(t *testing.T) {
			m, _ := newTestManager(t)
			ws := writeWorkspace(t, "")
			ctx := context.Background()
			first, err := m.Run(ctx, Options{Workspace: ws, Name: "web", Detach: true, Command: []string{"sleep"}})
			if err != nil {
				t.Fatal(err)
			}
			if beforeTheIndex {
				if err := os.RemoveAll(filepath.Join(m.Store.Root, "names")); err != nil {
					t.Fatal(err)
				}
			}
			_, err = m.Run(ctx, Options{Workspace: ws, Name: "web", Detach: true, Command: []string{"sleep"}})
			var inUse *NameInUseError
			if !errors.As(err, &inUse) || inUse.RunID != first.Run.ID {
				t.Fatalf("got %v, want NameInUseError naming %s", err, first.Run.ID)
			}
			if id, indexed, err := m.Store.NameHolder("web"); err != nil || !indexed || id != first.Run.ID {
				t.Fatalf("the index says %q (indexed %v, %v), want %s", id, indexed, err, first.Run.ID)
			}
			if err := m.Stop(ctx, first.Run); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Run(ctx, Options{Workspace: ws, Name: "web", Detach: true, Command: []string{"true"}}); err != nil {
				t.Fatalf("name of a stopped run refused: %v", err)
			}
		})
	}
}

func TestRunsReconcilesWithEngine(t *testing.T) {
	m, eng := newTestManager(t)
	ws := writeWorkspace(t, "")
	ctx := context.Background()
	exited, _ := m.Run(ctx, Options{Workspace: ws, Detach: true, Command: []string{"true"}})
	vanished, _ := m.Run(ctx, Options{Workspace: ws, Detach: true, Command: []string{"true"}})
	eng.Containers[exited.Run.ContainerID].Logs = "2026-11-28T10:00:00.5Z done\n"
	eng.Exit(exited.Run.ContainerID, 5)
	delete(eng.Containers, vanished.Run.ContainerID)

	runs, err := m.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*state.Run{}
	for _, r := range runs {
		got[r.ID] = r
	}
	if r := got[exited.Run.ID]; r.Status != state.Exited || *r.ExitCode != 5 {
		t.Errorf("exited run: got %s, want exited (5)", r.Status)
	}
	if r := got[vanished.Run.ID]; r.Status != state.Lost {
		t.Errorf("vanished run: got %s, want lost", r.Status)
	}
	if len(eng.Containers) != 0 {
		t.Errorf("left %d containers, want the exited and the vanished runs' all removed", len(eng.Containers))
	}
	var out bytes.Buffer
	if err := m.Logs(ctx, got[exited.Run.ID], LogsOptions{Stdout: &out, Stderr: &out, Timestamps: true}); err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-28T10:00:00.5Z done\n"; out.String() != want {
		t.Errorf("saved logs: got %q, want %q", out.String(), want)
	}
}

func TestDestroyRefusesRunningUnlessForced(t *testing.T) {
	m, eng := newTestManager(t)
	ctx := context.Background()
	res, _ := m.Run(ctx, Options{Workspace: writeWorkspace(t, ""), Detach: true, Command: []string{"sleep"}})
	var running *RunningError
	if err := m.Destroy(ctx, res.Run, false); !errors.As(err, &running) {
		t.Fatalf("got %v, want RunningError", err)
	}
	if err := m.Destroy(ctx, res.Run, true); err != nil {
		t.Fatal(err)
	}
	if len(eng.Containers) != 0 {
		t.Fatal("container left after destroy -f")
	}
	if _, err := os.Stat(m.Store.Dir(res.Run.ID)); !os.IsNotExist(err) {
		t.Fatal("run directory left after destroy")
	}
}

func TestRandomNameShape(t *testing.T) {
	for i := 0; i < 50; i++ {
		if n := randomName(); config.CheckName(n) != nil || !strings.Contains(n, "-") {
			t.Fatalf("random name %q is not adjective-animal", n)
		}
	}
}

func TestRunStartFailureLeavesNothing(t *testing.T) {
	m, eng := newTestManager(t)
	eng.StartErr = errors.New("bind source path does not exist")
	_, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "bind source path does not exist") {
		t.Fatalf("got %v, want the start error", err)
	}
	if runs, _ := m.Store.List(); len(runs) != 0 || len(eng.Containers) != 0 {
		t.Fatalf("got %d records and %d containers after a failed start, want none", len(runs), len(eng.Containers))
	}
}

func TestDockerModesRefusedWhereTheEngineCannot(t *testing.T) {
	for _, mode := range []string{"docker:host", "docker:dind"} {
		t.Run(mode, func(t *testing.T) {
			m, eng := newTestManager(t) // the fake has no socket and no volumes, like Apple containers
			ws := writeWorkspace(t, "dependencies: ["+mode+"]\nnetwork: {policy: permissive}\n")
			_, err := m.Run(context.Background(), Options{Workspace: ws, Command: []string{"true"}})
			var unsupported *runtime.UnsupportedError
			if !errors.As(err, &unsupported) || unsupported.Feature != mode || unsupported.Hint() == "" {
				t.Fatalf("got %v, want an UnsupportedError for %s with a remedy", err, mode)
			}
			if eng.Builds != 0 || len(eng.Containers) != 0 {
				t.Fatalf("refused late: %d builds, %d containers", eng.Builds, len(eng.Containers))
			}
		})
	}
}

// refusingEngine is an engine with its own words against features.
type refusingEngine struct {
	*runtest.Engine
	refused map[string]error
}

func (e refusingEngine) RefuseFeature(_ context.Context, feature string) error {
	return e.refused[feature]
}

func TestEngineRefusalComesFirstAndUpFront(t *testing.T) {
	for _, mode := range []string{"docker:host", "docker:dind"} {
		t.Run(mode, func(t *testing.T) {
			m, eng := newTestManager(t)
			why := errors.New("the cluster's own reason against " + mode)
			m.Engine = refusingEngine{Engine: eng, refused: map[string]error{mode: why}}
			// Strict egress: docker:host's own check would refuse it too,
			// with advice that does not apply where the engine cannot.
			ws := writeWorkspace(t, "dependencies: ["+mode+"]\n")
			_, err := m.Run(context.Background(), Options{Workspace: ws, Command: []string{"true"}})
			if !errors.Is(err, why) {
				t.Fatalf("got %v, want the engine's refusal", err)
			}
			if eng.Builds != 0 || len(eng.Containers) != 0 {
				t.Fatalf("refused late: %d builds, %d containers", eng.Builds, len(eng.Containers))
			}
		})
	}
}

func TestRunsFinishesRunsThatNeverStarted(t *testing.T) {
	m, eng := newTestManager(t)
	ws := writeWorkspace(t, "")
	res, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	// As if the CLI died between create and start, long ago.
	c := eng.Containers[res.Run.ContainerID]
	c.Info.State, c.Info.Running = "created", false
	res.Run.Status = state.Created
	m.Store.Save(res.Run)
	m.Now = func() time.Time { return time.Now().Add(time.Hour) }
	runs, err := m.Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].Status != state.Failed || len(eng.Containers) != 0 {
		t.Fatalf("got state %s and %d containers, want failed and none", runs[0].Status, len(eng.Containers))
	}
}

// Runs started together can draw the same random name: the one that
// claims it second draws again instead of failing over a name the user
// never chose; a chosen name is still refused.
func TestClaimDrawsARandomNameAgain(t *testing.T) {
	m, _ := newTestManager(t)
	ctx := context.Background()
	first, err := m.Run(ctx, Options{Workspace: writeWorkspace(t, ""), Detach: true, Command: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	taken := first.Run.Name
	// As if its check had passed before the first run claimed the name.
	r := &state.Run{ID: state.NewID(), Name: taken, Status: state.Created}
	if err := m.claimName(ctx, r, true); err != nil {
		t.Fatalf("claiming a random name taken meanwhile: %v", err)
	}
	if r.Name == taken {
		t.Fatalf("the second run took %q too", taken)
	}
	chosen := &state.Run{ID: state.NewID(), Name: taken, Status: state.Created}
	var inUse *NameInUseError
	if err := m.claimName(ctx, chosen, false); !errors.As(err, &inUse) {
		t.Fatalf("claiming a chosen name in use: %v, want NameInUseError", err)
	}
}
