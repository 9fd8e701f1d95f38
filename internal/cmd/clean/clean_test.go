package clean

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

func Test_clean(t *testing.T) {
	mgr, eng := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "done")
	eng.Exit(r.ContainerID, 0)
	manager := func(context.Context) (*run.Manager, error) { return mgr, nil }

	ios, _, _, errOut := iostreams.Test()
	if err := clean(context.Background(), &Options{IO: ios, Manager: manager, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "run       "+r.ID+"  done (exited)") {
		t.Fatalf("dry run does not list the finished run:\n%s", errOut)
	}
	if _, err := os.Stat(mgr.Store.Dir(r.ID)); err != nil {
		t.Fatal("dry run removed the run")
	}

	ios, _, _, _ = iostreams.Test() // stdin is not a terminal
	err := clean(context.Background(), &Options{IO: ios, Manager: manager})
	if err == nil || !strings.Contains(cmdutil.HintOf(err), "moat clean -f") {
		t.Fatalf("without a terminal or -f: got %v, want a refusal pointing at -f", err)
	}

	ios, in, _, errOut := iostreams.Test()
	ios.SetTTY(true, false, false)
	in.WriteString("y\n")
	if err := clean(context.Background(), &Options{IO: ios, Manager: manager}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(errOut.String(), "Remove these? [y/N] Cleaned.\n") {
		t.Fatalf("confirmed clean: stderr\n%s", errOut)
	}
	if _, err := os.Stat(mgr.Store.Dir(r.ID)); !os.IsNotExist(err) {
		t.Fatal("the finished run is still there")
	}
}
