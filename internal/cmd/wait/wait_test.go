package wait

import (
	"context"
	"errors"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

// Test_waitRuns: each run's exit code, in the order given, once its
// container has ended and the run is finished; an unknown run is
// reported, the others still waited for, and the command exits 1.
func Test_waitRuns(t *testing.T) {
	mgr, eng := cmdtest.Manager(t)
	a, b := cmdtest.Detached(t, mgr, "web"), cmdtest.Detached(t, mgr, "worker")
	eng.ExitCode = 3
	ios, _, out, errOut := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Refs: []string{"worker", "nosuch", a.ID}}
	var exit *cmdutil.ExitError
	if err := waitRuns(context.Background(), opts); !errors.As(err, &exit) || exit.Code != 1 {
		t.Fatalf("got %v, want exit 1", err)
	}
	if out.String() != "3\n3\n" {
		t.Fatalf("stdout %q, want both runs' codes", out)
	}
	if want := "moat: no run matches \"nosuch\"\n\nRun 'moat list -a' to see your runs.\n"; errOut.String() != want {
		t.Fatalf("stderr %q, want %q", errOut, want)
	}
	for _, r := range []*state.Run{a, b} {
		got, _ := mgr.Store.Load(r.ID)
		if got.Status != state.Exited || got.ExitCode == nil || *got.ExitCode != 3 {
			t.Errorf("run %s: state %s, want exited with 3", r.Name, got.Status)
		}
	}
	// A finished run answers at once, with the code it recorded.
	out.Reset()
	opts.Refs = []string{"web"}
	if err := waitRuns(context.Background(), opts); err != nil || out.String() != "3\n" {
		t.Fatalf("finished run: %v, stdout %q", err, out)
	}
}
