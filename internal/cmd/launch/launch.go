// Package launch is what 'moat run' and every agent launcher ('moat
// <agent>') share: one run flag set, bound here only so that a launcher
// accepts exactly 'moat run's flags; the "[path] [-- args]" arguments; and
// launching the run: opening the workspace through the orchestrator,
// letting the command shape it, attaching the user's terminal, and passing
// the command's exit code through. Each command keeps its own help text.
//
// It is a package of its own, not part of cmdutil, because launching needs
// the orchestrator's run options and the terminal, which cmdutil's other
// users do not; and not part of internal/cmd/run, because command packages
// do not import one another.
package launch

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are a run's flags and arguments as given on the command line.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)
	// Shape turns the opened workspace and the arguments after -- into the
	// run's workspace and command; nil ('moat run') takes both as they are.
	// A launcher applies its agent's profile here.
	Shape func(ws *run.Workspace, args []string) (*run.Workspace, []string, error)

	// TerminalByDefault makes a run on the user's terminal interactive,
	// as if -it were given, unless -d, -i or -t is: an agent launcher's
	// CLI is a terminal program first.
	TerminalByDefault bool
	// Credentials, when set, returns grants to add to the run's for the
	// opened workspace and the grants named with --grant: a launcher's
	// stored credential, when the run names none.
	Credentials func(ws *run.Workspace, named []string) ([]string, error)

	Workspace   string   // the path argument; "" is the current directory
	Command     []string // the arguments after --
	Env         []string
	Name        string
	Detach      bool
	Interactive bool
	TTY         bool
	// DetachKeys detach from an attached -it run, leaving it running.
	DetachKeys string
	Rebuild    bool
	Keep       bool
	Grants     []string
	Publish    []string // -p specs, parsed into ports
	ports      []run.Port
	// GrantStore opens the credential store, for the hosts of the run's
	// grants in the summary of what its proxy refused; nil leaves them out.
	GrantStore func() (*grant.Store, error)
	// Runtime is where the run goes (--runtime, --context, --namespace).
	Runtime cmdutil.RuntimeChoice
}

// Setup makes cmd a run command: the run flag set, the "[path] [-- args]"
// arguments, and launching the run (runF replaces it in tests). The caller
// gives cmd its Use and help text.
func Setup(cmd *cobra.Command, opts *Options, runF func(context.Context, *Options) error) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[cmdutil.RunsCommand] = "true"
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := opts.parseArgs(cmd, args); err != nil {
			return err
		}
		if err := opts.Runtime.Check(); err != nil {
			return err
		}
		if err := opts.parsePorts(); err != nil {
			return err
		}
		if opts.TerminalByDefault && !opts.Detach && !cmd.Flags().Changed("interactive") && !cmd.Flags().Changed("tty") &&
			opts.IO.IsStdinTTY() && opts.IO.IsStdoutTTY() {
			opts.Interactive, opts.TTY = true, true
		}
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return Run(cmd.Context(), opts)
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "Set an environment variable (KEY=VALUE, or KEY to pass moat's own value)")
	fl.StringVarP(&opts.Name, "name", "n", "", "Name of the run (default: agent.yaml's name, else a random one)")
	fl.BoolVarP(&opts.Detach, "detach", "d", false, "Start the run in the background and print its ID")
	fl.BoolVarP(&opts.Interactive, "interactive", "i", false, "Keep stdin open and forward it to the command")
	fl.BoolVarP(&opts.TTY, "tty", "t", false, "Give the command a terminal (use with -i: -it)")
	fl.StringVar(&opts.DetachKeys, "detach-keys", cmdutil.DefaultDetachKeys, "The `KEYS` that detach from an -it run, leaving it running ('moat attach' comes back)")
	fl.BoolVar(&opts.Rebuild, "rebuild", false, "Rebuild the image without the engine's cache")
	fl.BoolVar(&opts.Keep, "keep", false, "Keep the container after the command ends")
	fl.StringArrayVarP(&opts.Publish, "publish", "p", nil, "Publish the run's PORT on the host's HOST_PORT, as `[HOST_IP:]HOST_PORT:PORT` (HOST_IP defaults to 127.0.0.1)")
	fl.StringArrayVar(&opts.Grants, "grant", nil, "Let the proxy inject grant `NAME`'s credential (adds to agent.yaml's grants)")
	// Setup has no Factory; the grant store it completes from is the one
	// the options open.
	cmd.RegisterFlagCompletionFunc("grant", cmdutil.CompleteGrants(&cmdutil.Factory{Grants: opts.GrantStore}))
	fl.StringVar(&opts.Runtime.Runtime, "runtime", "", "Container runtime `NAME`: docker or kubernetes (default: config.yaml's runtime, else docker)")
	fl.StringVar(&opts.Runtime.Context, "context", "", "Run in kubeconfig context `NAME` (default: config.yaml's, else the current context)")
	fl.StringVar(&opts.Runtime.Namespace, "namespace", "", "Run in Kubernetes namespace `NAME` (default: config.yaml's, else the context's, else default)")
	return cmd
}

// parsePorts parses the -p specs.
func (o *Options) parsePorts() error {
	o.ports = nil
	for _, spec := range o.Publish {
		p, err := run.ParsePort(spec)
		if err != nil {
			return cmdutil.FlagErrorf("-p: %v", err)
		}
		o.ports = append(o.ports, p)
	}
	return nil
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

// RunOptions returns what the orchestrator gets for the opened workspace
// ws, shaped, without the streams, which Run adds.
func (o *Options) RunOptions(ws *run.Workspace) (run.Options, error) {
	command := o.Command
	if o.Shape != nil {
		var err error
		if ws, command, err = o.Shape(ws, o.Command); err != nil {
			return run.Options{}, err
		}
	}
	grants := o.Grants
	if o.Credentials != nil {
		add, err := o.Credentials(ws, o.Grants)
		if err != nil {
			return run.Options{}, err
		}
		grants = append(slices.Clone(grants), add...)
	}
	return run.Options{
		Opened: ws, Command: command, Env: o.Env, Name: o.Name,
		Detach: o.Detach, Interactive: o.Interactive, TTY: o.TTY, Rebuild: o.Rebuild, Keep: o.Keep,
		Grants: grants, Ports: o.ports,
	}, nil
}

// Run launches the run o describes and reports how it ended.
func Run(ctx context.Context, o *Options) error {
	mgr, ws, err := cmdutil.OpenWorkspace(cmdutil.WithRuntime(ctx, o.Runtime), o.Manager, o.IO, o.Workspace)
	if err != nil {
		return err
	}
	ro, err := o.RunOptions(ws)
	if err != nil {
		return err
	}
	o.defaultShell(&ro)
	res, err := o.attach(ctx, mgr, ro)
	if !o.Detach && res.Started && !res.Detached {
		o.reportBlocked(mgr, res.Run, ro.Opened)
	}
	return o.report(res, err)
}

// defaultShell makes a run with no command anywhere (no arguments after
// --, none in agent.yaml) useful: its default, bash, gets the user's
// terminal when there is one, as if -it were given; without one, bash
// would read no input and end at once, so the user is told.
func (o *Options) defaultShell(ro *run.Options) {
	if len(ro.Command) > 0 || len(ro.Opened.Config().Command) > 0 || o.Detach || o.Interactive || o.TTY {
		return
	}
	if o.IO.IsStdinTTY() && o.IO.IsStdoutTTY() {
		o.Interactive, o.TTY = true, true
		ro.Interactive, ro.TTY = true, true
		return
	}
	fmt.Fprintln(o.IO.ErrOut, "No command given: running bash, which reads no input without -i and ends at once.\n"+
		"Give a command after --, or use -it for a shell.")
}

// attach runs ro with the user's terminal and streams, and gives them
// back (the terminal out of raw mode) when the run ends.
func (o *Options) attach(ctx context.Context, mgr *run.Manager, ro run.Options) (run.Result, error) {
	// With -t the user gives the agent their terminal: its output is
	// written as it is. Without, the agent has no terminal and gets none of
	// the user's: on a terminal its control sequences are dropped.
	stdout, flushOut := cmdutil.TerminalWriter(o.IO.Out, !o.TTY && o.IO.IsStdoutTTY())
	stderr, flushErr := cmdutil.TerminalWriter(o.IO.ErrOut, !o.TTY && o.IO.IsStderrTTY())
	defer flushErr()
	defer flushOut()
	ro.Stdin, ro.Stdout, ro.Stderr = o.IO.In, stdout, stderr
	if o.Interactive && o.TTY && !o.Detach {
		keys, err := cmdutil.ParseDetachKeys(o.DetachKeys)
		if err != nil {
			return run.Result{}, cmdutil.FlagErrorf("--detach-keys: %v", err)
		}
		in := cmdutil.NewDetachReader(o.IO.In, keys)
		ro.Stdin, ro.Detached = in, func() bool { return in.Detached }
	}
	if !o.Detach {
		intr := watchInterrupts(o.IO.ErrOut)
		defer intr.stop()
		intr.attach(&ro)
	}
	var raw *cmdutil.Terminal
	if o.TTY && !o.Detach {
		raw = cmdutil.WatchTerminal(o.IO)
		defer raw.Restore()
		ro.TerminalSize, ro.Resized = o.IO.TerminalSize, raw.Resized
		ro.OnAttach = func() {
			// Without raw mode the run still works, with the terminal's
			// line editing and echo on top of the command's.
			if err := raw.MakeRaw(); err != nil {
				fmt.Fprintf(o.IO.ErrOut, "warning: %v\n", err)
			}
		}
	}
	ro.Started = o.announcePorts(ctx, mgr.Store.Root, func() string {
		if raw.IsRaw() {
			return "\r\n"
		}
		return "\n"
	})
	cmdutil.AskOnTerminal(o.IO, mgr, raw)
	return mgr.Run(ctx, ro)
}

// report turns the run's result into output and an exit status.
func (o *Options) report(res run.Result, err error) error {
	var intr *run.InterruptedError
	switch {
	case errors.As(err, &intr):
		return err
	case err != nil:
		return err
	case res.Detached:
		fmt.Fprintf(o.IO.ErrOut, "\r\nDetached from run %s, which goes on. Attach again with 'moat attach %s', stop it with 'moat stop %[1]s'.\r\n",
			res.Run.Name, res.Run.Name)
		return nil
	case o.Detach:
		fmt.Fprintln(o.IO.Out, res.Run.ID)
		if o.Interactive || o.TTY {
			fmt.Fprintf(o.IO.ErrOut, "Started run %s (%s). Attach to it with 'moat attach %s', stop it with 'moat stop %s'.\n",
				res.Run.ID, res.Run.Name, res.Run.Name, res.Run.Name)
			return nil
		}
		fmt.Fprintf(o.IO.ErrOut, "Started run %s (%s). Follow it with 'moat logs -f %s', stop it with 'moat stop %s'.\n",
			res.Run.ID, res.Run.Name, res.Run.Name, res.Run.Name)
		return nil
	case res.ExitCode != 0:
		return &cmdutil.ExitError{Code: res.ExitCode}
	}
	return nil
}
