package cmdutil

import (
	"context"
	"fmt"
	"io"

	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

// FindManagedRun opens the orchestrator and finds in it the run ref
// addresses (ID, ID prefix or name; the most recent run when empty), for a
// command that then works on the run through it ('moat logs', 'moat
// attach', 'moat exec'). The run's record is reconciled with the engine
// first, unless recordedOnly: a command that asks the engine about that
// one run itself finds it in the store alone (Manager.FindRecorded).
func FindManagedRun(ctx context.Context, manager func(context.Context) (*run.Manager, error), ref string, recordedOnly bool) (*run.Manager, *state.Run, error) {
	mgr, err := manager(ctx)
	if err != nil {
		return nil, nil, err
	}
	var r *state.Run
	if recordedOnly {
		r, err = mgr.FindRecorded(ref)
	} else {
		r, err = mgr.Find(ctx, ref, nil, "")
	}
	if err != nil {
		return nil, nil, err
	}
	return mgr, r, nil
}

// LoadRuns returns every run, newest first, reconciled with the engine when
// it answers, and the store they come from. When the engine cannot be
// reached it still returns the stored records, with the engine's error:
// commands that only read records go on and say the states may be stale.
func LoadRuns(ctx context.Context, f *Factory) ([]*state.Run, *state.Store, error) {
	mgr, err := f.Manager(ctx)
	if err == nil {
		runs, err := mgr.Runs(ctx)
		return runs, mgr.Store, err
	}
	store, serr := f.Store()
	if serr != nil {
		return nil, nil, err
	}
	runs, serr := store.List()
	if serr != nil {
		return nil, nil, err
	}
	return runs, store, err
}

// FindRun picks the run ref addresses (ID, ID prefix or name; the most
// recent run when empty) for commands that read its records and logs:
// reconciled with the engine when it answers, from the store when not.
func FindRun(ctx context.Context, f *Factory, ref string) (*state.Run, *state.Store, error) {
	runs, store, err := LoadRuns(ctx, f)
	if runs == nil && err != nil {
		return nil, nil, err
	}
	r, err := state.Find(runs, ref, nil, "")
	return r, store, err
}

// ReadRuns is LoadRuns for commands that show records: when the engine
// cannot be reached it warns on errOut that the states may be stale and
// goes on with the stored records.
func ReadRuns(ctx context.Context, f *Factory, errOut io.Writer) ([]*state.Run, error) {
	runs, _, err := LoadRuns(ctx, f)
	if err != nil {
		if runs == nil {
			return nil, err
		}
		fmt.Fprintf(errOut, "warning: states may be stale: %v\n", err)
	}
	return runs, nil
}
