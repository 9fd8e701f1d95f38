package run

import (
	"context"
	"errors"
	"time"

	"github.com/moatsh/moat/internal/audit"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// createGrace is how long a record may say "created" without a container
// before it counts as lost: another moat process may be creating it.
const createGrace = 2 * time.Minute

// Runs returns every run, newest first, with the state of active runs
// checked against the engine: a run whose container ended while no moat
// process watched is finished now (logs kept, container removed unless
// --keep), one whose container vanished is marked lost.
func (m *Manager) Runs(ctx context.Context) ([]*state.Run, error) {
	runs, err := m.Store.List()
	if err != nil {
		return nil, err
	}
	byRun, err := m.containersByRun(ctx)
	if err != nil {
		return runs, err
	}
	for _, r := range runs {
		if r.Status.Active() {
			m.reconcileOne(ctx, r, byRun)
		}
	}
	return runs, nil
}

func (m *Manager) containersByRun(ctx context.Context) (map[string]runtime.ContainerInfo, error) {
	cs, err := m.Engine.ListContainers(ctx, labels.ManagedFilter)
	if err != nil {
		return nil, err
	}
	byRun := make(map[string]runtime.ContainerInfo, len(cs))
	for _, c := range cs {
		if c.Labels[labels.Role] == labels.RoleAgent && m.homeOK(c.Labels) && isRunContainer(c) {
			byRun[c.Labels[labels.RunID]] = c
		}
	}
	return byRun, nil
}

// reconcileOne brings one active record in line with its container. With a
// nil byRun it asks the engine about this run's container alone.
func (m *Manager) reconcileOne(ctx context.Context, r *state.Run, byRun map[string]runtime.ContainerInfo) error {
	c, found, err := m.lookupContainer(ctx, r, byRun)
	if err != nil {
		return err
	}
	switch {
	case !found && r.Status == state.Created && m.now().Sub(r.CreatedAt) < createGrace:
		return nil
	case !found:
		return m.markLost(ctx, r)
	case c.Running:
		if r.Status != state.Running {
			return m.markRunning(r)
		}
		return nil
	case c.State == "created" && m.now().Sub(r.CreatedAt) < createGrace:
		return nil // being started by another moat process
	case c.State == "created":
		m.finish(ctx, r, state.Failed, -1, errors.New("the run never started: the moat process creating it stopped first"))
		return nil
	}
	info, err := m.Engine.InspectContainer(ctx, c.ID)
	if err != nil {
		return err
	}
	m.finishAt(ctx, r, state.Exited, info.ExitCode, nil, info.FinishedAt)
	return nil
}

func (m *Manager) lookupContainer(ctx context.Context, r *state.Run, byRun map[string]runtime.ContainerInfo) (runtime.ContainerInfo, bool, error) {
	if byRun != nil {
		c, ok := byRun[r.ID]
		return c, ok, nil
	}
	if r.ContainerID == "" {
		return runtime.ContainerInfo{}, false, nil
	}
	c, err := m.Engine.InspectContainer(ctx, r.ContainerID)
	if errors.Is(err, runtime.ErrNotFound) {
		return c, false, nil
	}
	if err == nil && m.owns("container", r.ContainerID, c.Labels, r, labels.RoleAgent) != nil {
		return c, false, nil // not the run's: its own is gone
	}
	return c, err == nil, err
}

// markRunning records that a created run's container runs, under the
// run's lock and from the record as stored then: the moat process that
// started it saves the same with its start time, and a copy read before
// that must not be saved over it.
func (m *Manager) markRunning(r *state.Run) error {
	unlock, err := m.Store.LockRun(r.ID)
	if err != nil {
		return err
	}
	defer unlock()
	stored, err := m.Store.Load(r.ID)
	if err != nil {
		return err
	}
	*r = *stored
	if r.Status != state.Created {
		return nil // started, or finished, meanwhile
	}
	r.Status = state.Running
	if r.StartedAt.IsZero() {
		r.StartedAt = m.now()
	}
	return m.Store.Save(r)
}

// markLost records that a run's container vanished, under the run's lock:
// the container may be gone because another moat process is finishing the
// run right now, and then that process's record stands.
func (m *Manager) markLost(ctx context.Context, r *state.Run) error {
	unlock, err := m.Store.LockRun(r.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if m.finishedElsewhere(r) {
		return nil
	}
	r.Status, r.Error = state.Lost, "the container disappeared while no moat process was watching"
	m.finishFeatures(ctx, r)
	if err := m.Store.Save(r); err != nil {
		return err
	}
	// The run is over: its log ends here, signed, as any finished run's
	// does (without it 'moat audit' would report the log cut off for
	// ever). What the container did after moat last saw it is not in it.
	m.record(r, audit.KindRunFinished, map[string]string{"state": string(r.Status), "exit_code": "-1", "error": r.Error}, false)
	m.closeAudit(r)
	return nil
}
