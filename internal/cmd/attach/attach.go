// Package attach implements 'moat attach': the user's terminal and streams
// connected to a running run's command.
package attach

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags and arguments of 'moat attach'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Ref        string
	DetachKeys string
	NoStdin    bool
}

// NewCmdAttach builds the command; runF replaces the work in tests.
func NewCmdAttach(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:               "attach RUN",
		ValidArgsFunction: cmdutil.CompleteRuns(f, true, false),
		Short:             "Attach to a running run's command",
		Long: `Connect your terminal to a running run's command, addressed by ID, ID prefix
or name: its output, and your input when the run was started with -i (a run
started with -it, detached or not, gets your terminal). The detach keys
(--detach-keys, default ctrl-p,ctrl-q) leave the run running; attach again
later. When the command ends, the exit status is its own.`,
		Example: `  # Start a shell in the background, then use it
  $ moat run -d -it -n dev . -- bash
  $ moat attach dev`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if _, err := cmdutil.ParseDetachKeys(opts.DetachKeys); err != nil {
				return cmdutil.FlagErrorf("%v", err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return attachRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.DetachKeys, "detach-keys", cmdutil.DefaultDetachKeys, "The `KEYS` that detach from the run, leaving it running")
	cmd.Flags().BoolVar(&opts.NoStdin, "no-stdin", false, "Do not forward your input")
	return cmd
}

func attachRun(ctx context.Context, o *Options) error {
	keys, _ := cmdutil.ParseDetachKeys(o.DetachKeys)
	mgr, r, err := cmdutil.FindManagedRun(ctx, o.Manager, o.Ref, false)
	if err != nil {
		return err
	}
	ao := run.AttachOptions{Stdout: o.IO.Out, Stderr: o.IO.ErrOut, DetachKeys: o.DetachKeys}
	if !o.NoStdin && r.Interactive {
		in := cmdutil.NewDetachReader(o.IO.In, keys)
		ao.Stdin, ao.Detached = in, func() bool { return in.Detached }
	}
	if r.TTY {
		raw, err := cmdutil.RawTerminal(o.IO)
		if err != nil {
			return err
		}
		defer raw.Restore()
		ao.TerminalSize, ao.Resized = o.IO.TerminalSize, raw.Resized
	}
	r, err = mgr.Attach(ctx, r, ao)
	switch {
	case errors.Is(err, run.ErrDetached):
		fmt.Fprintf(o.IO.ErrOut, "\r\nDetached from run %s, which goes on. Attach again with 'moat attach %s'.\r\n", r.Name, r.Name)
		return nil
	case err != nil:
		return err
	case r.ExitCode != nil && *r.ExitCode != 0:
		return &cmdutil.ExitError{Code: *r.ExitCode}
	}
	return nil
}
