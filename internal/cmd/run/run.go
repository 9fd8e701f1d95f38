// Package run implements 'moat run': run a command in a sandboxed container
// built from the workspace's agent.yaml.
package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags and arguments of 'moat run'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Workspace   string
	Command     []string
	Env         []string
	Name        string
	Detach      bool
	Interactive bool
	TTY         bool
	Rebuild     bool
	Keep        bool
	Grants      []string
}

// NewCmdRun builds the command; runF replaces the work in tests.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:   "run [path] [-- command [args...]]",
		Short: "Run a command in a sandboxed container for a workspace",
		Long: `Run a command in a container built from the workspace's agent.yaml.

moat builds (or reuses, by content hash) an image with exactly the declared
dependencies, mounts the workspace read-write at /workspace, runs the command
as an unprivileged user with the workspace owner's UID, streams its output and
exits with the command's exit code. The command comes from the arguments after
--, else agent.yaml's command, else bash.`,
		Example: `  # Run the project's tests in the sandbox
  $ moat run ./project -- make test

  # An interactive shell
  $ moat run -it ./project -- bash

  # Let the agent use GitHub through the proxy (it never sees the token)
  $ moat grant github
  $ moat run --grant github ./project -- gh pr list

  # Start in the background, follow it, stop it
  $ moat run -d --name web ./project -- ./serve.sh
  $ moat logs -f web
  $ moat stop web`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.parseArgs(cmd, args); err != nil {
				return err
			}
			if opts.Detach && (opts.Interactive || opts.TTY) {
				return cmdutil.FlagErrorf("--detach cannot be combined with --interactive or --tty")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "Set an environment variable (KEY=VALUE, or KEY to pass moat's own value)")
	fl.StringVarP(&opts.Name, "name", "n", "", "Name of the run (default: agent.yaml's name, else a random one)")
	fl.BoolVarP(&opts.Detach, "detach", "d", false, "Start the run in the background and print its ID")
	fl.BoolVarP(&opts.Interactive, "interactive", "i", false, "Keep stdin open and forward it to the command")
	fl.BoolVarP(&opts.TTY, "tty", "t", false, "Give the command a terminal (use with -i: -it)")
	fl.BoolVar(&opts.Rebuild, "rebuild", false, "Rebuild the image without the engine's cache")
	fl.BoolVar(&opts.Keep, "keep", false, "Keep the container after the command ends")
	fl.StringArrayVar(&opts.Grants, "grant", nil, "Let the proxy inject grant `NAME`'s credential (adds to agent.yaml's grants)")
	return cmd
}

// parseArgs splits "[path] [-- cmd...]": before -- at most one path.
func (o *Options) parseArgs(cmd *cobra.Command, args []string) error {
	before := args
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		before, o.Command = args[:dash], args[dash:]
	}
	switch len(before) {
	case 0:
	case 1:
		o.Workspace = before[0]
	default:
		return cmdutil.FlagErrorf("expected at most one workspace path before --, got %q; put the command after --", before)
	}
	return nil
}

func runRun(ctx context.Context, o *Options) error {
	mgr, err := o.Manager(ctx)
	if err != nil {
		return err
	}
	// With -t the user gives the agent their terminal: its output is
	// written as it is. Without, the agent has no terminal and gets none of
	// the user's: on a terminal its control sequences are dropped.
	stdout, flushOut := cmdutil.TerminalWriter(o.IO.Out, !o.TTY && o.IO.IsStdoutTTY())
	stderr, flushErr := cmdutil.TerminalWriter(o.IO.ErrOut, !o.TTY && o.IO.IsStderrTTY())
	defer flushErr()
	defer flushOut()
	ro := run.Options{
		Workspace: o.Workspace, Command: o.Command, Env: o.Env, Name: o.Name,
		Detach: o.Detach, Interactive: o.Interactive, TTY: o.TTY, Rebuild: o.Rebuild, Keep: o.Keep,
		Grants: o.Grants, Stdin: o.IO.In, Stdout: stdout, Stderr: stderr,
	}
	var raw rawTerminal
	if o.TTY {
		restore, err := setupTerminal(o.IO, &ro, &raw)
		if err != nil {
			return err
		}
		defer restore()
	}
	if o.IO.IsStdinTTY() && o.IO.IsStderrTTY() {
		mgr.AskApproval = func(req run.ApprovalRequest) (bool, error) {
			var yes bool
			raw.whileCooked(func() { yes = cmdutil.AskApproval(o.IO, req) })
			return yes, nil
		}
	}
	res, err := mgr.Run(ctx, ro)
	return o.report(res, err)
}

// report turns the run's result into output and an exit status.
func (o *Options) report(res run.Result, err error) error {
	var intr *run.InterruptedError
	switch {
	case errors.As(err, &intr):
		return err
	case err != nil:
		return err
	case o.Detach:
		fmt.Fprintln(o.IO.Out, res.Run.ID)
		fmt.Fprintf(o.IO.ErrOut, "Started run %s (%s). Follow it with 'moat logs -f %s', stop it with 'moat stop %s'.\n",
			res.Run.ID, res.Run.Name, res.Run.Name, res.Run.Name)
		return nil
	case res.ExitCode != 0:
		return &cmdutil.ExitError{Code: res.ExitCode}
	}
	return nil
}

// rawTerminal is the user's terminal while a TTY run has it in raw mode.
type rawTerminal struct {
	fd  int
	old *term.State // nil when the terminal is not raw
}

// whileCooked runs f with the terminal back in its normal mode, for a
// question asked before the run starts.
func (t *rawTerminal) whileCooked(f func()) {
	if t.old == nil {
		f()
		return
	}
	cur, err := term.GetState(t.fd)
	if err != nil {
		f()
		return
	}
	term.Restore(t.fd, t.old)
	defer term.Restore(t.fd, cur)
	f()
}

// setupTerminal puts the user's terminal in raw mode for a TTY run and
// reports size changes; restore undoes it.
func setupTerminal(io *iostreams.IOStreams, ro *run.Options, raw *rawTerminal) (restore func(), err error) {
	ro.TerminalSize = io.TerminalSize
	resized := make(chan struct{}, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for range winch {
			select {
			case resized <- struct{}{}:
			default:
			}
		}
	}()
	ro.Resized = resized
	restore = func() { signal.Stop(winch) }
	if !io.IsStdinTTY() || io.InFd() < 0 {
		return restore, nil
	}
	old, err := term.MakeRaw(io.InFd())
	if err != nil {
		return restore, fmt.Errorf("setting the terminal to raw mode: %w", err)
	}
	raw.fd, raw.old = io.InFd(), old
	return func() {
		signal.Stop(winch)
		term.Restore(io.InFd(), old)
	}, nil
}
