package agentcmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/moatsh/moat/internal/agent"
	"github.com/moatsh/moat/internal/cmd/launch"
	runcmd "github.com/moatsh/moat/internal/cmd/run"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

// testProfile is a profile of an agent that does not exist.
var testProfile = agent.Profile{
	Name:         "testagent",
	Short:        "Run the test agent in a sandboxed container",
	Install:      []string{"node@22", "npm:@moat-test/agent@1.2.3"},
	Command:      []string{"agent", "--verbose"},
	Placeholders: []agent.Placeholder{{Env: "ANTHROPIC_API_KEY", Grant: grant.Anthropic}},
	State:        []string{"/home/moat/.agent"},
	Hosts:        []string{"api.agent.example"},
	Defaults: agent.Defaults{
		Env: map[string]string{"AGENT_TELEMETRY": "0"},
		Args: []agent.DefaultArg{{
			Args: []string{"--skip-permissions"}, DroppedBy: []string{"--permission-mode"},
			Why: "the container is the sandbox",
		}},
	},
}

// flagsOf describes every flag of cmd: name, shorthand, type, default, usage.
func flagsOf(cmd *cobra.Command) []string {
	var out []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		out = append(out, fmt.Sprintf("--%s -%s %s %q %q", f.Name, f.Shorthand, f.Value.Type(), f.DefValue, f.Usage))
	})
	return out
}

func TestLauncherHasTheRunFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios}
	got, want := flagsOf(NewCmdAgent(f, testProfile, nil)), flagsOf(runcmd.NewCmdRun(f, nil))
	if len(want) < 8 || !slices.Equal(got, want) {
		t.Fatalf("launcher flags:\n%s\nwant moat run's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// parse runs the test profile's launcher on args and returns the options
// it would launch with.
func parse(args []string) (*launch.Options, error) { return parseOn(false, args) }

// parseOn parses args with stdin and stdout a terminal or not.
func parseOn(terminal bool, args []string) (*launch.Options, error) {
	ios, _, _, _ := iostreams.Test()
	ios.SetTTY(terminal, terminal, terminal)
	var got *launch.Options
	cmd := NewCmdAgent(&cmdutil.Factory{IOStreams: ios}, testProfile, func(_ context.Context, o *launch.Options) error {
		got = o
		return nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	return got, cmd.Execute()
}

func TestNewCmdAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    launch.Options
		wantErr string
	}{
		{name: "no args", want: launch.Options{}},
		{name: "path and agent arguments", args: []string{"./p", "--", "-p", "fix it"},
			want: launch.Options{Workspace: "./p", Command: []string{"-p", "fix it"}}},
		{name: "run flags", args: []string{"-it", "-e", "A=1", "--grant", "anthropic", "-n", "a1", "--rebuild", "--keep", "./p"},
			want: launch.Options{Workspace: "./p", Interactive: true, TTY: true, Env: []string{"A=1"}, Grants: []string{"anthropic"},
				Name: "a1", Rebuild: true, Keep: true}},
		{name: "agent flags are not moat's", args: []string{"--", "-d", "--name", "x"},
			want: launch.Options{Command: []string{"-d", "--name", "x"}}},
		{name: "two paths", args: []string{"a", "b"}, wantErr: "expected at most one workspace path before --"},
		{name: "detached with a terminal, for moat attach", args: []string{"-d", "-it"}, want: launch.Options{Detach: true, Interactive: true, TTY: true}},
		{name: "detach keys", args: []string{"--detach-keys", "ctrl-x"}, want: launch.Options{DetachKeys: "ctrl-x"}},
		{name: "unknown flag", args: []string{"--model", "x"}, wantErr: "unknown flag: --model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Shape == nil {
				t.Fatal("the launcher does not shape the run")
			}
			g := *got
			g.IO, g.Manager, g.Shape, g.TerminalByDefault, g.Credentials = nil, nil, nil, false, nil
			if g.DetachKeys == cmdutil.DefaultDetachKeys {
				g.DetachKeys = "" // the default, checked by the case that sets it
			}
			if !reflect.DeepEqual(g, tt.want) {
				t.Fatalf("got %+v, want %+v", g, tt.want)
			}
		})
	}
}

// TestLauncherIsInteractiveOnATerminal checks that a launcher on the
// user's terminal runs the agent as -it would, and that -d, -i or -t, or
// no terminal, leave the choice to the flags.
func TestLauncherIsInteractiveOnATerminal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		terminal bool
		args     []string
		it       bool
	}{
		{true, nil, true},
		{true, []string{"./p", "--", "-p", "hi"}, true},
		{false, nil, false},
		{true, []string{"-d"}, false},
		{true, []string{"-i"}, false}, // -i alone: stdin, no terminal
		{true, []string{"-t=false"}, false},
	}
	for _, tt := range tests {
		got, err := parseOn(tt.terminal, tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if got.TTY != tt.it || got.Interactive != (tt.it || slices.Contains(tt.args, "-i")) {
			t.Errorf("terminal %v, %q: interactive %v, tty %v; want tty %v", tt.terminal, tt.args, got.Interactive, got.TTY, tt.it)
		}
	}
}

// openWorkspace writes agent.yaml into a new workspace and opens it as the
// CLI does.
func openWorkspace(t *testing.T, yaml string) *run.Workspace {
	t.Helper()
	dir := t.TempDir()
	if yaml != "" {
		if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &run.Manager{Store: &state.Store{Root: t.TempDir()}}
	ws, err := m.OpenWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestLauncherRunOptions(t *testing.T) {
	t.Parallel()
	got, err := parse([]string{"-n", "a1", "-e", "X=1", "--grant", "anthropic", "-d", "--", "-p", "fix it"})
	if err != nil {
		t.Fatal(err)
	}
	ws := openWorkspace(t, "dependencies: [git]\nenv: {FOO: bar}\ncommand: [make]\n")
	ro, err := got.RunOptions(ws)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Command != nil || ro.Workspace != "" || ro.Opened == nil || ro.Opened.Path() != ws.Path() {
		t.Fatalf("got command %q, workspace %q, opened %v: want the opened workspace's config to hold the command", ro.Command, ro.Workspace, ro.Opened)
	}
	if ro.Name != "a1" || !ro.Detach || !slices.Equal(ro.Env, []string{"X=1"}) || !slices.Equal(ro.Grants, []string{"anthropic"}) {
		t.Fatalf("flags lost: %+v", ro)
	}
	cfg := ro.Opened.Config()
	checks := []struct {
		what      string
		got, want any
	}{
		{"command", cfg.Command, []string{"agent", "--verbose", "--skip-permissions", "-p", "fix it"}},
		{"dependencies", cfg.DependencySpecs, []string{"git", "node@22", "npm:@moat-test/agent@1.2.3"}},
		{"env", cfg.Env, map[string]string{"FOO": "bar", "AGENT_TELEMETRY": "0"}},
		{"network.allow", len(cfg.Network.Allow) == 1 && cfg.Network.Allow[0].Text == "api.agent.example", true},
		{"grants", cfg.Grants, []string(nil)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	if !slices.Equal(ws.Config().Command, []string{"make"}) {
		t.Errorf("the opened workspace's own config changed: command %q", ws.Config().Command)
	}
}

func TestLauncherRefusesABrokenProfile(t *testing.T) {
	t.Parallel()
	p := testProfile
	p.Hosts = []string{"10.0.0.0/8"}
	o := &launch.Options{Shape: shape(p)}
	if _, err := o.RunOptions(openWorkspace(t, "")); err == nil || !strings.Contains(err.Error(), `agent profile "testagent"`) {
		t.Fatalf("got %v, want the profile refused", err)
	}
}

func TestLauncherHelpSaysWhatItAdds(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := iostreams.Test()
	cmd := NewCmdAgent(&cmdutil.Factory{IOStreams: ios}, testProfile, nil)
	cmd.SetArgs([]string{"--help"})
	cmd.SetOut(out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"testagent [path] [-- args...]",
		"install:  node@22, npm:@moat-test/agent@1.2.3",
		"allow:    api.agent.example",
		"env:      AGENT_TELEMETRY=0",
		"Command:    agent --verbose --skip-permissions, then the arguments after --",
		"Default:    --skip-permissions: the container is the sandbox.\n            Give --permission-mode among the arguments to leave it out.",
		"--grant anthropic  Anthropic API key, in ANTHROPIC_API_KEY",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

func TestNewCmdAgentsBuildsOnePerProfile(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	var names []string
	for _, c := range NewCmdAgents(&cmdutil.Factory{IOStreams: ios}) {
		names = append(names, c.Name())
	}
	if !slices.Equal(names, agent.Names()) {
		t.Fatalf("launchers %q, want one per profile %q", names, agent.Names())
	}
}
