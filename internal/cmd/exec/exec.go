// Package exec implements 'moat exec': a command in a running run's
// container, as its agent.
package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags and arguments of 'moat exec'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Ref         string
	Command     []string
	Env         []string
	WorkingDir  string
	Interactive bool
	TTY         bool
	DetachKeys  string
}

// NewCmdExec builds the command; runF replaces the work in tests.
func NewCmdExec(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:               "exec [flags] RUN -- COMMAND [ARG...]",
		ValidArgsFunction: cmdutil.CompleteRuns(f, true, false),
		Short:             "Run a command in a running run",
		Long: `Run a command in a running run's container, addressed by ID, ID prefix or
name, as its agent runs: the same user, no capabilities, no new privileges,
and the agent's environment (its proxy, CA and credential placeholders), so
the run's network policy applies to the command as to the agent. It starts
in the workspace. The exit status is the command's.

With -it the command gets your terminal; the detach keys (--detach-keys,
default ctrl-p,ctrl-q) leave it running without you. Each command is
recorded in the run's audit log.`,
		Example: `  # A shell in a detached run
  $ moat exec -it web -- bash

  # What the agent changed, from a script
  $ moat exec web -- git -C /workspace status --short`,
		Args: cmdutil.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags end at the run (docker's "RUN COMMAND [ARG...]" works
			// too), so the -- after it is an argument here.
			opts.Ref, opts.Command = args[0], args[1:]
			if len(opts.Command) > 0 && opts.Command[0] == "--" {
				opts.Command = opts.Command[1:]
			}
			if len(opts.Command) == 0 {
				return cmdutil.FlagErrorf("no command given: put it after --, such as 'moat exec %s -- bash'", opts.Ref)
			}
			if opts.WorkingDir != "" && !path.IsAbs(opts.WorkingDir) {
				return cmdutil.FlagErrorf("-w %s: give the directory as an absolute path in the run's container, such as /workspace/src", opts.WorkingDir)
			}
			if _, err := cmdutil.ParseDetachKeys(opts.DetachKeys); err != nil {
				return cmdutil.FlagErrorf("%v", err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return execRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&opts.Interactive, "interactive", "i", false, "Keep stdin open and forward it to the command")
	fl.BoolVarP(&opts.TTY, "tty", "t", false, "Give the command a terminal (use with -i: -it)")
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "Set an environment variable (KEY=VALUE, or KEY to pass moat's own value)")
	fl.StringVarP(&opts.WorkingDir, "workdir", "w", "", "Run the command in `DIR` (default: the workspace)")
	fl.StringVar(&opts.DetachKeys, "detach-keys", cmdutil.DefaultDetachKeys, "The `KEYS` that detach from the command, leaving it running")
	return cmd
}

func execRun(ctx context.Context, o *Options) error {
	mgr, r, err := cmdutil.FindManagedRun(ctx, o.Manager, o.Ref, true)
	if err != nil {
		return err
	}
	eo := run.ExecOptions{
		Command: o.Command, Env: resolveEnv(o.Env), WorkingDir: o.WorkingDir,
		Interactive: o.Interactive, TTY: o.TTY, DetachKeys: o.DetachKeys,
		Stdin: o.IO.In, Stdout: o.IO.Out, Stderr: o.IO.ErrOut,
	}
	if o.TTY {
		raw, err := cmdutil.RawTerminal(o.IO)
		if err != nil {
			return err
		}
		defer raw.Restore()
		eo.TerminalSize, eo.Resized = o.IO.TerminalSize, raw.Resized
	}
	code, err := mgr.Exec(ctx, r, eo)
	switch {
	case errors.Is(err, run.ErrDetached):
		fmt.Fprintf(o.IO.ErrOut, "\r\nDetached: the command goes on in run %s.\n", r.Name)
		return nil
	case err != nil:
		return err
	case code != 0:
		return &cmdutil.ExitError{Code: code}
	}
	return nil
}

// resolveEnv gives a bare KEY moat's own value, and drops it when moat has
// none, as 'moat run -e' does.
func resolveEnv(env []string) []string {
	var out []string
	for _, e := range env {
		if strings.Contains(e, "=") {
			out = append(out, e)
		} else if v, ok := os.LookupEnv(e); ok {
			out = append(out, e+"="+v)
		}
	}
	return out
}
