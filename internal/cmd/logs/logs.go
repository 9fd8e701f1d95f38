// Package logs implements 'moat logs': a run's output, live or saved.
package logs

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags and arguments of 'moat logs'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Ref        string
	Follow     bool
	Tail       int
	Timestamps bool
}

// NewCmdLogs builds the command; runF replaces the work in tests.
func NewCmdLogs(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:               "logs [run]",
		ValidArgsFunction: cmdutil.CompleteRuns(f, false, false),
		Short:             "Print a run's output",
		Long: `Print the output of a run, addressed by ID, ID prefix or name (default: the
most recent run). stdout lines go to stdout and stderr lines to stderr. With
-f, follow a live run until it ends.

On a terminal, control sequences in the output (colours, cursor moves,
window titles, clipboard writes) are dropped and control characters shown
as U+FFFD; into a pipe or a file the output is written as the run wrote it.`,
		Example: `  # The last 20 lines of the most recent run
  $ moat logs -n 20

  # Follow a detached run
  $ moat logs -f web`,
		Args: cmdutil.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			if opts.Tail < 0 {
				return cmdutil.FlagErrorf("--tail must be 0 (all) or a positive number of lines")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return showLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "Follow the output of a live run")
	cmd.Flags().IntVarP(&opts.Tail, "tail", "n", 0, "Print only the last N lines (0: all)")
	cmd.Flags().BoolVarP(&opts.Timestamps, "timestamps", "t", false, "Prefix each line with its time")
	return cmd
}

func showLogs(ctx context.Context, o *Options) error {
	mgr, r, err := cmdutil.FindManagedRun(ctx, o.Manager, o.Ref, false)
	if err != nil {
		return err
	}
	stdout, flushOut := cmdutil.TerminalWriter(o.IO.Out, o.IO.IsStdoutTTY())
	stderr, flushErr := cmdutil.TerminalWriter(o.IO.ErrOut, o.IO.IsStderrTTY())
	err = mgr.Logs(ctx, r, run.LogsOptions{
		Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps, Stdout: stdout, Stderr: stderr,
	})
	flushOut()
	flushErr()
	return err
}
