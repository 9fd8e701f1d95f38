package run

import (
	"context"
	"errors"
	"testing"

	"github.com/moatsh/moat/internal/state"
)

// Options.Started is called once the command has started, attached or
// detached, with the run as it is then: the CLI says there where its
// published ports are reached.
func TestRunCallsStartedOnce(t *testing.T) {
	for _, detach := range []bool{false, true} {
		m, _ := newTestManager(t)
		var calls []state.Status
		res, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Command: []string{"true"}, Detach: detach,
			Started: func(r *state.Run) { calls = append(calls, r.Status) }})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0] != state.Running {
			t.Errorf("detach %v: Started saw states %v, want one call while running", detach, calls)
		}
		if !res.Started {
			t.Errorf("detach %v: the run did not start", detach)
		}
	}
}

// A run that fails before its command starts never calls Started.
func TestRunFailingToStartDoesNotCallStarted(t *testing.T) {
	m, eng := newTestManager(t)
	eng.StartErr = errors.New("boom")
	called := false
	_, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Command: []string{"true"}, Detach: true,
		Started: func(*state.Run) { called = true }})
	if err == nil || called {
		t.Fatalf("got %v, Started called %v; want the start error and no call", err, called)
	}
}
