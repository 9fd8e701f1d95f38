package root

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/agent"
	"github.com/moatsh/moat/internal/cmd/agentcmd"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/testutil"
)

func TestMainExitCodes(t *testing.T) {
	unreachable := cmdutil.WithHint(errString("cannot reach the Docker engine at unix:///x.sock: no such file"),
		"Start the Docker engine.")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "run fails before start: 125 and the remedy", args: []string{"run", "--", "true"}, wantCode: 125,
			wantStderr: "moat: cannot reach the Docker engine at unix:///x.sock: no such file\n\nStart the Docker engine.\n"},
		{name: "other command fails: 1", args: []string{"stop"}, wantCode: 1,
			wantStderr: "moat: cannot reach the Docker engine at unix:///x.sock: no such file\n\nStart the Docker engine.\n"},
		{name: "run usage error: 125, as docker run", args: []string{"run", "--bogus"}, wantCode: 125,
			wantStderr: "moat: unknown flag: --bogus\n\nRun 'moat run --help' for usage.\n"},
		{name: "usage error: 2", args: []string{"list", "--bogus"}, wantCode: 2,
			wantStderr: "moat: unknown flag: --bogus\n\nRun 'moat list --help' for usage.\n"},
		{name: "unknown command: 2", args: []string{"stpo"}, wantCode: 2,
			wantStderr: "moat: unknown command \"stpo\" for \"moat\"\n\nDid you mean this?\n\tstop\n\n\nRun 'moat --help' for usage.\n"},
		{name: "unknown command of a group: 2, not its help and 0", args: []string{"deps", "lsit"}, wantCode: 2,
			wantStderr: "moat: unknown command \"lsit\" for \"moat deps\"\n\nDid you mean this?\n\tlist\n\n\nRun 'moat deps --help' for usage.\n"},
		{name: "help on an unknown command: 2, not 0", args: []string{"help", "stpo"}, wantCode: 2,
			wantStderr: "moat: unknown command \"stpo\" for \"moat\"\n\nDid you mean this?\n\tstop\n\n\nRun 'moat --help' for usage.\n"},
		{name: "an unknown shell for completion: 2", args: []string{"completion", "nushell"}, wantCode: 2,
			wantStderr: "moat: unknown command \"nushell\" for \"moat completion\"\n\nRun 'moat completion --help' for usage.\n"},
		{name: "an argument to a command that takes none: 2", args: []string{"list", "x"}, wantCode: 2,
			wantStderr: "moat: 'moat list' takes no arguments, not 1\n\nUsage: moat list [flags]\n\nRun 'moat list --help' for usage.\n"},
		{name: "too many args: 2", args: []string{"logs", "a", "b"}, wantCode: 2,
			wantStderr: "moat: 'moat logs' takes at most 1 argument, not 2\n\nUsage: moat logs [run] [flags]\n\nRun 'moat logs --help' for usage.\n"},
		{name: "a flag value that is not a number: 2, in moat's words", args: []string{"stop", "-t", "soon", "x"}, wantCode: 2,
			wantStderr: "moat: invalid value \"soon\" for -t/--time: want a whole number\n\nRun 'moat stop --help' for usage.\n"},
		{name: "version works without an engine", args: []string{"version"}, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, errOut := iostreams.Test()
			f := &cmdutil.Factory{
				IOStreams: ios, Version: "test",
				Manager: func(context.Context) (*run.Manager, error) { return nil, unreachable },
				Store:   func() (*state.Store, error) { return &state.Store{Root: t.TempDir()}, nil },
			}
			if code := Main(f, tt.args); code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errOut.String())
			}
			if tt.wantStderr != "" && errOut.String() != tt.wantStderr {
				t.Fatalf("stderr\n%q\nwant\n%q", errOut.String(), tt.wantStderr)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestMainErrorsReachTheTerminalClean: an error or hint quoting
// agent-controlled text (an agent.yaml value, a path, a build log tail)
// reaches stderr without its control sequences.
func TestMainErrorsReachTheTerminalClean(t *testing.T) {
	hostile := cmdutil.WithHint(errString("agent.yaml:3:7: unknown field \"x\x1b]52;c;cm0gLXJmIH4=\x07y\"\nbuild log:\x1b]0;pwned\x07 tail\x9b2J"),
		"Did you mean \"\x1bP$qm\x1b\\name\"?")
	ios, _, _, errOut := iostreams.Test()
	f := &cmdutil.Factory{
		IOStreams: ios, Version: "test",
		Manager: func(context.Context) (*run.Manager, error) { return nil, hostile },
		Store:   func() (*state.Store, error) { return &state.Store{Root: t.TempDir()}, nil },
	}
	Main(f, []string{"stop"})
	want := "moat: agent.yaml:3:7: unknown field \"xy\"\nbuild log: tail\uFFFD2J\n\nDid you mean \"name\"?\n"
	if errOut.String() != want {
		t.Fatalf("stderr\n%q\nwant\n%q", errOut.String(), want)
	}
}

// TestLauncherFailuresExit125: an agent launcher is a run, so moat's own
// failures exit 125 as 'moat run's do.
func TestLauncherFailuresExit125(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Version: "test",
		Manager: func(context.Context) (*run.Manager, error) { return nil, errString("cannot reach the engine") }}
	cmd := NewCmdRoot(f)
	p := agent.Profile{Name: "testagent", Short: "Run the test agent", Command: []string{"agent"}}
	cmd.AddCommand(agentcmd.NewCmdAgent(f, p, nil))
	args := []string{"testagent", "--", "-p", "x"}
	cmd.SetArgs(args)
	if code := exitCode(f, cmd, args, cmd.Execute()); code != cmdutil.ExitMoatFailure {
		t.Fatalf("exit code %d, want %d", code, cmdutil.ExitMoatFailure)
	}
}

// TestCommandNamesAreUnique: cobra runs the first of two commands of one
// name, so an agent profile named like a command would hide it.
func TestCommandNamesAreUnique(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	seen := map[string]bool{}
	for _, c := range NewCmdRoot(&cmdutil.Factory{IOStreams: ios}).Commands() {
		for _, name := range append([]string{c.Name()}, c.Aliases...) {
			if seen[name] {
				t.Errorf("two commands are named %q", name)
			}
			seen[name] = true
		}
	}
}

// TestDocumentedExitCodes: the codes docs/runs.md's table gives are those
// 'moat exit-codes' lists, and its examples that need no engine exit with
// them in process (e2e's TestDocumentedExitCodes runs all of them).
func TestDocumentedExitCodes(t *testing.T) {
	rows, err := testutil.DocumentedExitCodes("../../../docs/runs.md")
	if err != nil {
		t.Fatal(err)
	}
	topic := exitCodesTopic().Long
	runPart, othersPart, ok := strings.Cut(topic, "Other commands:")
	if !ok {
		t.Fatalf("the exit-codes topic has no part for other commands:\n%s", topic)
	}
	documented := map[string][]string{}
	for _, row := range rows {
		documented[row.Commands] = append(documented[row.Commands], row.Code)
	}
	for part, text := range map[string]string{"run": runPart, "others": othersPart} {
		var listed []string
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
				listed = append(listed, f[0])
			}
		}
		if !slices.Equal(listed, documented[part]) {
			t.Errorf("%s: 'moat exit-codes' lists %v, docs/runs.md %v", part, listed, documented[part])
		}
	}
	for _, row := range rows {
		for _, ex := range row.Examples {
			if slices.Contains(ex.Argv, "./project") || slices.Contains(ex.Argv, "logs") {
				continue // needs an engine or a run: e2e
			}
			ios, _, _, errOut := iostreams.Test()
			f := &cmdutil.Factory{IOStreams: ios, Version: "test",
				Manager: func(context.Context) (*run.Manager, error) { return nil, errString("no engine here") },
				Store:   func() (*state.Store, error) { return &state.Store{Root: t.TempDir()}, nil }}
			if code := Main(f, ex.Argv); code != ex.Code {
				t.Errorf("moat %s: exit %d, docs say %d (stderr %q)", strings.Join(ex.Argv, " "), code, ex.Code, errOut)
			}
		}
	}
}
