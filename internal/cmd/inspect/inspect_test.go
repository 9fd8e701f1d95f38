package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

func Test_inspectRuns(t *testing.T) {
	mgr, _ := cmdtest.Manager(t)
	a, b := cmdtest.Detached(t, mgr, "web"), cmdtest.Detached(t, mgr, "worker")
	newOpts := func(format string, refs ...string) (*Options, *bytes.Buffer, *bytes.Buffer) {
		ios, _, out, errOut := iostreams.Test()
		return &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil },
			Store: func() (*state.Store, error) { return mgr.Store, nil }, Format: format, Refs: refs}, out, errOut
	}

	opts, out, errOut := newOpts("", "worker", a.ID[:8])
	if err := inspectRuns(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["id"] != b.ID || got[1]["id"] != a.ID || got[0]["state"] != "running" {
		t.Fatalf("got %v, want worker then web", got)
	}
	if cmd, ok := got[0]["command"].([]any); !ok || len(cmd) != 2 || cmd[0] != "sleep" {
		t.Errorf("command %v, want [sleep 600]", got[0]["command"])
	}

	// Unknown runs: reported, the others printed, exit 1; none at all
	// prints an empty array, as docker inspect does.
	for _, tt := range []struct {
		refs []string
		want string
	}{
		{[]string{"nosuch", "web"}, "running web\n"},
		{[]string{"nosuch"}, ""},
	} {
		opts, out, errOut = newOpts("{{.State}} {{.Name}}", tt.refs...)
		var exit *cmdutil.ExitError
		if err := inspectRuns(context.Background(), opts); !errors.As(err, &exit) || exit.Code != 1 {
			t.Fatalf("%v: got %v, want exit 1", tt.refs, err)
		}
		if out.String() != tt.want {
			t.Errorf("%v: stdout %q, want %q", tt.refs, out, tt.want)
		}
		if errOut.String() != "moat: no run matches \"nosuch\"\n\nRun 'moat list -a' to see your runs.\n" {
			t.Errorf("%v: stderr %q", tt.refs, errOut)
		}
	}
	opts, out, errOut = newOpts("", "nosuch")
	if err := inspectRuns(context.Background(), opts); err == nil || out.String() != "[]\n" || errOut.Len() == 0 {
		t.Errorf("only an unknown run: %v, stdout %q, want [] and an error", err, out)
	}
}
