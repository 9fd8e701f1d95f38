package run

import (
	"context"
	"testing"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/run/runtest"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// TestRewrittenRecordCannotSteerTheCLI: a run's record names containers
// moat stops and removes; one rewritten to name a container of the user's
// (their database) or of another moat home's run must not make moat stop
// or remove it.
func TestRewrittenRecordCannotSteerTheCLI(t *testing.T) {
	victims := map[string]map[string]string{
		"user's database": {"app": "db"},
		"another home's run": {labels.Managed: "true", labels.RunID: "", labels.Role: labels.RoleAgent,
			labels.Home: "otherhome"},
	}
	steps := map[string]func(t *testing.T, m *Manager, eng *runtest.Engine, r *state.Run){
		"moat list finishes the run": func(t *testing.T, m *Manager, eng *runtest.Engine, r *state.Run) {
			m.Runs(context.Background())
		},
		"moat stop": func(t *testing.T, m *Manager, eng *runtest.Engine, r *state.Run) {
			m.Stop(context.Background(), r)
		},
		"moat destroy -f": func(t *testing.T, m *Manager, eng *runtest.Engine, r *state.Run) {
			m.Destroy(context.Background(), r, true)
		},
	}
	for vname, vlabels := range victims {
		for sname, step := range steps {
			t.Run(vname+"/"+sname, func(t *testing.T) {
				m, eng := newTestManager(t)
				var warned []string
				m.Warnf = func(f string, a ...any) { warned = append(warned, f) }
				res, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Detach: true, Command: []string{"sleep"}})
				if err != nil {
					t.Fatal(err)
				}
				r := res.Run
				if sname == "moat list finishes the run" {
					eng.Exit(r.ContainerID, 0) // the command ended while no moat watched
				}
				lbl := map[string]string{}
				for k, v := range vlabels {
					lbl[k] = v
				}
				if _, ok := lbl[labels.RunID]; ok {
					lbl[labels.RunID] = r.ID
				}
				eng.Containers["victim"] = &runtest.Container{Info: runtime.ContainerInfo{
					ID: "victim", Name: "victim", Labels: lbl, State: "running", Running: true}}
				r.ContainerID = "victim"
				r.Sidecars = append(r.Sidecars, state.Sidecar{Role: labels.RoleProxy, Name: "victim"})
				if err := m.Store.Save(r); err != nil {
					t.Fatal(err)
				}
				step(t, m, eng, r)
				c, ok := eng.Containers["victim"]
				if !ok || !c.Info.Running {
					t.Fatalf("the %s was stopped or removed (present %v) because a run record named it", vname, ok)
				}
			})
		}
	}
}

// TestRecordForAnotherRunIsIgnored: a record whose id is not its
// directory's name is not a run of this home.
func TestRecordForAnotherRunIsIgnored(t *testing.T) {
	m, _ := newTestManager(t)
	r := &state.Run{ID: state.NewID(), Name: "a", Status: state.Exited}
	if err := m.Store.Create(r); err != nil {
		t.Fatal(err)
	}
	if err := state.WriteFileAtomic(m.Store.Path(r.ID, "metadata.json"), []byte(`{"id":"0123456789ab","name":"a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	runs, err := m.Store.List()
	if err != nil || len(runs) != 0 {
		t.Fatalf("got %d runs (%v), want the mismatched record skipped", len(runs), err)
	}
}
