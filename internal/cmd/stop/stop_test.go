package stop

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

func Test_stopRun(t *testing.T) {
	mgr, _ := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "web")
	ios, _, out, errOut := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Refs: []string{"web"}}
	if err := stopRuns(context.Background(), opts); err != nil {
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
	if err := stopRuns(context.Background(), opts); err != nil {
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
	err := stopRuns(context.Background(), opts)
	if err == nil || err.Error() != "no running run" {
		t.Fatalf("got %v, want %q", err, "no running run")
	}
}

// Test_stopRuns stops several runs as docker stop does: a name that
// matches nothing is reported, the others are stopped, and the command
// exits 1.
func Test_stopRuns(t *testing.T) {
	mgr, _ := cmdtest.Manager(t)
	a, b := cmdtest.Detached(t, mgr, "web"), cmdtest.Detached(t, mgr, "worker")
	ios, _, out, errOut := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Refs: []string{"web", "nosuch", "worker"}}
	var exit *cmdutil.ExitError
	if err := stopRuns(context.Background(), opts); !errors.As(err, &exit) || exit.Code != 1 {
		t.Fatalf("got %v, want exit 1", err)
	}
	if out.String() != a.ID+"\n"+b.ID+"\n" || !strings.HasPrefix(errOut.String(), "moat: ") || !strings.Contains(errOut.String(), "nosuch") {
		t.Fatalf("stdout %q stderr %q, want both IDs and the unknown name reported", out, errOut)
	}
	for _, r := range []string{a.ID, b.ID} {
		if got, _ := mgr.Store.Load(r); got.Status != "stopped" {
			t.Errorf("run %s: state %s, want stopped", r, got.Status)
		}
	}
}

func TestNewCmdStop(t *testing.T) {
	tests := []struct {
		args     []string
		wantTime int
		wantErr  string
	}{
		{args: []string{"web"}, wantTime: 10},
		{args: []string{"-t", "0", "web"}, wantTime: 0},
		{args: []string{"--time", "30", "web", "worker"}, wantTime: 30},
		{args: []string{"-t", "-1", "web"}, wantErr: "--time must be 0 or more seconds, got -1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var got *Options
			cmd := NewCmdStop(&cmdutil.Factory{IOStreams: ios}, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Time != tt.wantTime {
				t.Fatalf("got %v, time %d; want time %d", err, got.Time, tt.wantTime)
			}
		})
	}
}
