package launch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

func TestReport(t *testing.T) {
	r := &state.Run{ID: "abc123def456", Name: "web"}
	tests := []struct {
		name      string
		opts      Options
		res       run.Result
		err       error
		wantCode  int
		wantOut   string
		wantErrIO string
	}{
		{name: "exit 0", res: run.Result{Run: r, Started: true}},
		{name: "exit 7 passes through", res: run.Result{Run: r, Started: true, ExitCode: 7}, wantCode: 7},
		{
			name: "detached prints the ID", opts: Options{Detach: true}, res: run.Result{Run: r, Started: true},
			wantOut:   "abc123def456\n",
			wantErrIO: "Started run abc123def456 (web). Follow it with 'moat logs -f web', stop it with 'moat stop web'.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := iostreams.Test()
			tt.opts.IO = ios
			err := tt.opts.report(tt.res, tt.err)
			var exitErr *cmdutil.ExitError
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantCode != 0 && (!errors.As(err, &exitErr) || exitErr.Code != tt.wantCode):
				t.Fatalf("got %v, want exit %d", err, tt.wantCode)
			}
			if out.String() != tt.wantOut || errOut.String() != tt.wantErrIO {
				t.Fatalf("got stdout %q stderr %q, want %q and %q", out, errOut, tt.wantOut, tt.wantErrIO)
			}
		})
	}
}

// openWorkspace opens a new workspace as Run does.
func openWorkspace(t *testing.T, yaml string) *run.Workspace {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, err := (&run.Manager{Store: &state.Store{Root: t.TempDir()}}).OpenWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestRunOptionsOfMoatRun(t *testing.T) {
	t.Parallel()
	ws := openWorkspace(t, "command: [make]\n")
	o := &Options{Workspace: "ignored once opened", Command: []string{"make", "test"}, Env: []string{"A=1"}, Name: "web",
		Detach: true, Rebuild: true, Keep: true, Grants: []string{"github"}}
	ro, err := o.RunOptions(ws)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Opened != ws || ro.Workspace != "" || !slices.Equal(ro.Command, []string{"make", "test"}) ||
		!slices.Equal(ro.Env, o.Env) || ro.Name != "web" || !ro.Detach || !ro.Rebuild || !ro.Keep ||
		ro.Interactive || ro.TTY || !slices.Equal(ro.Grants, o.Grants) {
		t.Fatalf("got %+v, want the opened workspace with the flags and command as given", ro)
	}
}

func TestRunOptionsShaped(t *testing.T) {
	t.Parallel()
	ws := openWorkspace(t, "")
	shaped := ws.WithConfig(&config.Config{Command: []string{"agent", "x"}})
	o := &Options{Command: []string{"x"}, Shape: func(got *run.Workspace, args []string) (*run.Workspace, []string, error) {
		if got != ws || !slices.Equal(args, []string{"x"}) {
			t.Errorf("Shape got %v %q, want the opened workspace and the arguments after --", got, args)
		}
		return shaped, nil, nil
	}}
	ro, err := o.RunOptions(ws)
	if err != nil || ro.Opened != shaped || ro.Command != nil {
		t.Fatalf("got %+v, %v; want the shaped workspace and no command", ro, err)
	}
	o.Shape = func(*run.Workspace, []string) (*run.Workspace, []string, error) {
		return nil, nil, errors.New("bad profile")
	}
	if _, err := o.RunOptions(ws); err == nil || err.Error() != "bad profile" {
		t.Fatalf("got %v, want Shape's error", err)
	}
}

// A run with no command anywhere runs bash: with the user's terminal when
// there is one, else with a note that it will end at once.
func TestDefaultShell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		agentYAML string
		command   []string
		terminal  bool
		wantTTY   bool
		wantNote  bool
	}{
		{name: "terminal: interactive bash", terminal: true, wantTTY: true},
		{name: "pipe: a note", wantNote: true},
		{name: "agent.yaml's command", agentYAML: "command: [make]\n", terminal: true},
		{name: "a command given", command: []string{"true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, errOut := iostreams.Test()
			ios.SetTTY(tt.terminal, tt.terminal, tt.terminal)
			o := &Options{IO: ios, Command: tt.command}
			ro, err := o.RunOptions(openWorkspace(t, tt.agentYAML))
			if err != nil {
				t.Fatal(err)
			}
			o.defaultShell(&ro)
			if ro.TTY != tt.wantTTY || ro.Interactive != tt.wantTTY || o.TTY != tt.wantTTY {
				t.Errorf("got -i %v -t %v, want both %v", ro.Interactive, ro.TTY, tt.wantTTY)
			}
			if got := errOut.Len() > 0; got != tt.wantNote {
				t.Errorf("stderr %q, want a note: %v", errOut, tt.wantNote)
			}
		})
	}
}
