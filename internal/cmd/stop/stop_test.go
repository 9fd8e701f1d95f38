package stop

import (
	"context"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

func Test_stopRun(t *testing.T) {
	mgr, _ := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "web")
	ios, _, out, errOut := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Ref: "web"}
	if err := stopRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != r.ID+"\n" || errOut.String() != "" {
		t.Fatalf("stdout %q stderr %q, want the run ID and nothing", out, errOut)
	}
	got, _ := mgr.Store.Load(r.ID)
	if got.Status != "stopped" {
		t.Fatalf("state %s, want stopped", got.Status)
	}
	out.Reset()
	if err := stopRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if want := "Run " + r.ID + " (web) is not running (stopped).\n"; errOut.String() != want || out.String() != "" {
		t.Fatalf("second stop: stdout %q stderr %q, want %q on stderr", out, errOut, want)
	}
}

func Test_stopRunNothingRunning(t *testing.T) {
	mgr, _ := cmdtest.Manager(t)
	ios, _, _, _ := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }}
	err := stopRun(context.Background(), opts)
	if err == nil || err.Error() != "no running run" {
		t.Fatalf("got %v, want %q", err, "no running run")
	}
}
