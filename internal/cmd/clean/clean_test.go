package clean

import (
	"context"
	"os"
	"slices"
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

	ios, _, out, errOut := iostreams.Test()
	if err := clean(context.Background(), &Options{IO: ios, Manager: manager, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	// The list on stdout, one object a line; the rest on stderr.
	if lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); !slices.Contains(lines, "run       "+r.ID+"  done (exited)") {
		t.Fatalf("dry run's stdout does not list the finished run:\n%s", out)
	}
	if !strings.HasPrefix(errOut.String(), "Would remove:\n") || strings.Contains(errOut.String(), r.ID) {
		t.Fatalf("dry run's stderr:\n%s", errOut)
	}
	// The one run is counted in the singular.
	if !strings.Contains(errOut.String(), "\n1 run, 0 images (0.0 MB), 0 orphaned objects, 0 caches\n") {
		t.Fatalf("dry run's stderr:\n%s\nwant the summary 1 run, 0 images (0.0 MB), 0 orphaned objects, 0 caches", errOut)
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
