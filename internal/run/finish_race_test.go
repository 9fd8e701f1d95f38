package run

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/state"
)

// TestFinishAndReconcileRace finishes a run from its attached CLI while
// other moat processes (Managers of their own on the same store and
// engine) reconcile it at once: the run is finished once, so its audit log
// holds one container.exited, one run.finished and one final checkpoint,
// and verifies.
func TestFinishAndReconcileRace(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, eng := newTestManager(t)
	m.SigningKey = func() (ed25519.PrivateKey, error) { return key, nil }
	res := runDetached(t, m, "true")
	id := res.Run.ID
	eng.Exit(res.Run.ContainerID, 5)

	var wg sync.WaitGroup
	cli, err := m.Store.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { m.finish(context.Background(), cli, state.Exited, 5, nil) })
	for range 4 {
		other := &Manager{Engine: m.Engine, Store: &state.Store{Root: m.Store.Root}, Version: "test",
			ProxyBinary: m.ProxyBinary, SigningKey: m.SigningKey}
		wg.Go(func() {
			if _, err := other.Runs(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	f, err := os.Open(m.Store.Path(id, AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, id, key.Public().(ed25519.PublicKey))
	if err != nil || rep.Tampering() != nil || !rep.Closed {
		t.Fatalf("got %v, %+v, closed %v; want a closed log that verifies", err, rep.Problems, rep.Closed)
	}
	if rep.Kinds[audit.KindRunFinished] != 1 || rep.Kinds[audit.KindContainerExited] != 1 || rep.Kinds[audit.KindLogsSaved] != 1 {
		t.Fatalf("events %v: want one run.finished, container.exited and logs.saved", rep.Kinds)
	}
	r, err := m.Store.Load(id)
	if err != nil || r.Status != state.Exited || r.ExitCode == nil || *r.ExitCode != 5 {
		t.Fatalf("record: %+v, %v; want exited (5)", r, err)
	}
}

// TestLostRunClosesItsLog: a run whose container vanished while no moat
// process watched is marked lost, and its audit log ends there, closed
// and verifiable, with the run.finished that says so (not "not closed"
// for ever).
func TestLostRunClosesItsLog(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, eng := newTestManager(t)
	m.SigningKey = func() (ed25519.PrivateKey, error) { return key, nil }
	res := runDetached(t, m, "sleep")
	delete(eng.Containers, res.Run.ContainerID)
	if _, err := m.Runs(context.Background()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(m.Store.Path(res.Run.ID, AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, res.Run.ID, key.Public().(ed25519.PublicKey))
	if err != nil || rep.Tampering() != nil || !rep.Closed || rep.Kinds[audit.KindRunFinished] != 1 {
		t.Fatalf("got %v, %+v, closed %v, kinds %v; want a closed log that verifies, with one run.finished", err, rep.Problems, rep.Closed, rep.Kinds)
	}
	if r, _ := m.Store.Load(res.Run.ID); r.Status != state.Lost {
		t.Fatalf("record %s, want lost", r.Status)
	}
}

// TestReconcileKeepsTheStartTime: another moat process that read a run's
// record while it was "created" and sees its container running afterwards
// marks it running from the record as stored then, so the start time the
// starting process saved meanwhile is kept (it was saved over, and
// 'moat list' showed the run as never started).
func TestReconcileKeepsTheStartTime(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	res := runDetached(t, m, "sleep", "60")
	stored, err := m.Store.Load(res.Run.ID)
	if err != nil || stored.StartedAt.IsZero() {
		t.Fatalf("the started run's record: %+v, %v", stored, err)
	}
	stale := *stored
	stale.Status, stale.StartedAt = state.Created, time.Time{}
	if err := m.reconcileOne(context.Background(), &stale, nil); err != nil {
		t.Fatal(err)
	}
	after, err := m.Store.Load(res.Run.ID)
	if err != nil || after.Status != state.Running || !after.StartedAt.Equal(stored.StartedAt) {
		t.Fatalf("after reconciling a stale copy: %s started %v, want running, started %v", after.Status, after.StartedAt, stored.StartedAt)
	}
}

// TestDetachKeepsAFinishElsewhere: the attached CLI detaches from a copy of
// the record read while the run went, after 'moat stop' (another process)
// finished it. The stop's record stands: the run is not saved back as
// running, to be reported lost later.
func TestDetachKeepsAFinishElsewhere(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	res := runDetached(t, m, "sleep", "60")
	attached, err := m.Store.Load(res.Run.ID)
	if err != nil || attached.Status != state.Running {
		t.Fatalf("the started run's record: %+v, %v", attached, err)
	}
	attached.Detached = false
	if err := m.Stop(context.Background(), res.Run); err != nil {
		t.Fatal(err)
	}
	got, err := m.detachFrom(context.Background(), attached)
	if err != nil || !got.Detached {
		t.Fatalf("detachFrom = %+v, %v; want detached", got, err)
	}
	after, err := m.Store.Load(res.Run.ID)
	if err != nil || after.Status != state.Stopped || after.Status.Active() {
		t.Fatalf("after detaching from a stale copy: %+v, %v; want the stop's record", after, err)
	}
	if got.Run.Status != state.Stopped {
		t.Fatalf("detachFrom's run is %s, want the stored %s", got.Run.Status, state.Stopped)
	}
}

// TestReconcileRecordsTheEngineEndTime: a detached run whose command ended
// while no moat process watched is finished with the time the engine says
// it ended, not the time a listing noticed, saved once under the run's
// lock with the rest of its end.
func TestReconcileRecordsTheEngineEndTime(t *testing.T) {
	t.Parallel()
	m, eng := newTestManager(t)
	res := runDetached(t, m, "true")
	eng.Exit(res.Run.ContainerID, 0)
	info, err := eng.InspectContainer(context.Background(), res.Run.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	ended := info.FinishedAt.Add(-time.Hour) // well before any listing
	eng.Containers[res.Run.ContainerID].Info.FinishedAt = ended
	if _, err := m.Runs(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := m.Store.Load(res.Run.ID)
	if err != nil || r.Status != state.Exited || !r.FinishedAt.Equal(ended) {
		t.Fatalf("record: %s finished %v, %v; want exited, finished %v", r.Status, r.FinishedAt, err, ended)
	}
}

// runDetached starts command as a detached run of m and returns its result.
func runDetached(t *testing.T, m *Manager, command ...string) Result {
	t.Helper()
	res, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Detach: true, Command: command})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
