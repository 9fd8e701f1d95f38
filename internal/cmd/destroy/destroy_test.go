package destroy

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

func Test_destroyRun(t *testing.T) {
	mgr, eng := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "web")
	ios, _, out, _ := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Refs: []string{"web"}}
	var running *run.RunningError
	if err := destroyRuns(context.Background(), opts); !errors.As(err, &running) {
		t.Fatalf("got %v, want a RunningError for a running run", err)
	}
	opts.Force = true
	if err := destroyRuns(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != r.ID+"\n" {
		t.Fatalf("stdout %q, want the run ID", out)
	}
	if _, err := os.Stat(mgr.Store.Dir(r.ID)); !os.IsNotExist(err) || len(eng.Containers) != 0 {
		t.Fatalf("destroy left the run directory (%v) or %d containers", err, len(eng.Containers))
	}
}

// Test_destroyRunWithoutName: destroying deletes the audit log, so the run
// is never guessed: refused without a terminal, asked about on one.
func Test_destroyRunWithoutName(t *testing.T) {
	mgr, _ := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "web")
	if err := mgr.Stop(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ios, in, out, errOut := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Force: true}
	if err := destroyRuns(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "without a name") {
		t.Fatalf("no terminal: got %v, want a refusal", err)
	}
	ios.SetTTY(true, false, false)
	in.WriteString("n\n")
	var exit *cmdutil.ExitError
	if err := destroyRuns(context.Background(), opts); !errors.As(err, &exit) || !strings.Contains(errOut.String(), "Destroy run "+r.ID) {
		t.Fatalf("answered no: got %v, stderr %q", err, errOut)
	}
	if _, err := os.Stat(mgr.Store.Dir(r.ID)); err != nil {
		t.Fatalf("the run was destroyed after a no: %v", err)
	}
	in.WriteString("y\n")
	if err := destroyRuns(context.Background(), opts); err != nil || out.String() != r.ID+"\n" {
		t.Fatalf("answered yes: got %v, stdout %q", err, out)
	}
}

// Test_destroyRuns removes several runs as docker rm does: a running run
// without -f is reported, the others are removed, and the command exits 1.
func Test_destroyRuns(t *testing.T) {
	mgr, _ := cmdtest.Manager(t)
	a, running, b := cmdtest.Detached(t, mgr, "a"), cmdtest.Detached(t, mgr, "busy"), cmdtest.Detached(t, mgr, "b")
	for _, r := range []*state.Run{a, b} {
		if err := mgr.Stop(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	ios, _, out, errOut := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Refs: []string{"a", "busy", "b"}}
	var exit *cmdutil.ExitError
	if err := destroyRuns(context.Background(), opts); !errors.As(err, &exit) || exit.Code != 1 {
		t.Fatalf("got %v, want exit 1", err)
	}
	if out.String() != a.ID+"\n"+b.ID+"\n" || !strings.Contains(errOut.String(), "moat: ") {
		t.Fatalf("stdout %q stderr %q, want both IDs and the running run reported", out, errOut)
	}
	for id, want := range map[string]bool{a.ID: false, running.ID: true, b.ID: false} {
		if _, err := os.Stat(mgr.Store.Dir(id)); (err == nil) != want {
			t.Errorf("run %s: directory present %v, want %v", id, err == nil, want)
		}
	}
}
