package destroy

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

func Test_destroyRun(t *testing.T) {
	mgr, eng := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "web")
	ios, _, out, _ := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Ref: "web"}
	var running *run.RunningError
	if err := destroyRun(context.Background(), opts); !errors.As(err, &running) {
		t.Fatalf("got %v, want a RunningError for a running run", err)
	}
	opts.Force = true
	if err := destroyRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != r.ID+"\n" {
		t.Fatalf("stdout %q, want the run ID", out)
	}
	if _, err := os.Stat(mgr.Store.Dir(r.ID)); !os.IsNotExist(err) || len(eng.Containers) != 0 {
		t.Fatalf("destroy left the run directory (%v) or %d containers", err, len(eng.Containers))
	}
}
