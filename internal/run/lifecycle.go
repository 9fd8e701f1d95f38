package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// Find returns the run ref addresses (ID, ID prefix or name), or with an
// empty ref the most recent run match accepts; want names that kind of run
// in errors. Records are reconciled with the engine first.
func (m *Manager) Find(ctx context.Context, ref string, match func(*state.Run) bool, want string) (*state.Run, error) {
	runs, err := m.Runs(ctx)
	if err != nil && runs == nil {
		return nil, err
	}
	return state.Find(runs, ref, match, want)
}

// FindRecorded finds a run by ref in the store alone, without asking the
// engine what became of active runs (Find does): for a caller that asks
// the engine about the one run it found, such as 'moat exec'.
func (m *Manager) FindRecorded(ref string) (*state.Run, error) {
	runs, err := m.Store.List()
	if err != nil && runs == nil {
		return nil, err
	}
	return state.Find(runs, ref, nil, "")
}

// IsActive matches runs that may have a live container.
func IsActive(r *state.Run) bool { return r.Status.Active() }

// IsFinished matches runs whose command is over.
func IsFinished(r *state.Run) bool { return !r.Status.Active() }

// Stop stops a run's command (SIGTERM, then SIGKILL after StopGrace),
// keeps its logs and removes its container unless the run was started with
// --keep. Stopping a finished run does nothing.
func (m *Manager) Stop(ctx context.Context, r *state.Run) error {
	return m.StopWithin(ctx, r, StopGrace)
}

// StopWithin is Stop with SIGKILL after grace; 0 kills at once.
func (m *Manager) StopWithin(ctx context.Context, r *state.Run, grace time.Duration) error {
	if !r.Status.Active() {
		return nil
	}
	code, err := m.stopContainer(ctx, r, grace, nil)
	if err != nil {
		return err
	}
	m.finish(ctx, r, state.Stopped, code, nil)
	return nil
}

// stopContainer stops the run's container, SIGKILL after grace or as soon
// as kill closes, and returns the command's exit code, or -1 when the
// engine no longer knows it. A container another moat process is removing
// (it finished the run first: 'moat stop' and the attached CLI race) is
// stopped already.
func (m *Manager) stopContainer(ctx context.Context, r *state.Run, grace time.Duration, kill <-chan struct{}) (int, error) {
	if err := m.ownContainer(ctx, r, r.ContainerID, labels.RoleAgent); errors.Is(err, runtime.ErrNotFound) {
		return -1, nil
	} else if err != nil {
		return -1, fmt.Errorf("stopping run %s: %w", r.ID, err)
	}
	err := m.stopCommand(ctx, r.ContainerID, grace, kill)
	if err != nil && !errors.Is(err, runtime.ErrNotFound) && !errors.Is(err, runtime.ErrConflict) {
		return -1, fmt.Errorf("stopping run %s: %w", r.ID, err)
	}
	if info, err := m.Engine.InspectContainer(ctx, r.ContainerID); err == nil {
		return info.ExitCode, nil
	}
	return -1, nil
}

// stopCommand asks the engine to stop container id within grace; when
// kill closes first, it asks again with no grace, which kills at once.
func (m *Manager) stopCommand(ctx context.Context, id string, grace time.Duration, kill <-chan struct{}) error {
	if kill == nil || grace == 0 {
		return m.Engine.StopContainer(ctx, id, grace)
	}
	done := make(chan error, 1)
	go func() { done <- m.Engine.StopContainer(ctx, id, grace) }()
	select {
	case err := <-done:
		return err
	case <-kill:
	}
	killErr := m.Engine.StopContainer(ctx, id, 0)
	if err := <-done; killErr == nil {
		return err
	}
	return killErr
}

// RunningError reports an attempt to destroy a run that is still running.
type RunningError struct{ ID, Name string }

func (e *RunningError) Error() string {
	return fmt.Sprintf("run %s (%s) is still running", e.ID, e.Name)
}

func (e *RunningError) Hint() string {
	return fmt.Sprintf("Stop it first with 'moat stop %s', or destroy it anyway with 'moat destroy -f %s'.", e.ID, e.ID)
}

// Destroy removes a run: its container, any engine object labelled with its
// ID, and its record and logs. A running run is refused unless force.
func (m *Manager) Destroy(ctx context.Context, r *state.Run, force bool) error {
	if r.Status.Active() && !force {
		return &RunningError{ID: r.ID, Name: r.Name}
	}
	if err := m.removeRunObjects(ctx, r.ID); err != nil {
		return err
	}
	return m.Store.Delete(r.ID)
}

// removeRunObjects removes every engine object labelled with the run's ID.
func (m *Manager) removeRunObjects(ctx context.Context, runID string) error {
	objs, err := m.runObjects(ctx, runID)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := m.removeObject(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// Wait blocks until the run's command has ended and the run is finished
// (its logs kept, its container removed unless --keep), whoever finishes
// it: the engine says when the container stops, and then this process or
// the one attached to the run records the end. It returns the finished
// record.
func (m *Manager) Wait(ctx context.Context, r *state.Run) (*state.Run, error) {
	for r.Status.Active() {
		if r.ContainerID == "" {
			return nil, fmt.Errorf("run %s has no container yet: its moat process is still creating it", r.ID)
		}
		if m.ownContainer(ctx, r, r.ContainerID, labels.RoleAgent) == nil {
			if _, err := m.Engine.WaitContainer(ctx, r.ContainerID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				return nil, fmt.Errorf("waiting for run %s: %w", r.ID, err)
			}
		}
		if err := m.reconcileOne(ctx, r, nil); err != nil {
			return nil, fmt.Errorf("waiting for run %s: %w", r.ID, err)
		}
		if r.Status.Active() {
			// The container exists but has not started: the moat process
			// creating the run starts it in a moment (the engine's wait
			// returns at once for a created container).
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(startPoll):
			}
		}
	}
	return r, nil
}

// startPoll is how often Wait looks again at a run whose container is
// created but not yet started.
const startPoll = 200 * time.Millisecond
