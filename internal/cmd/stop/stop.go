// Package stop implements 'moat stop': end a running run.
package stop

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the arguments of 'moat stop'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Refs []string
	Time int // seconds between SIGTERM and SIGKILL
}

// NewCmdStop builds the command; runF replaces the work in tests.
func NewCmdStop(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, Time: int(run.StopGrace / time.Second)}
	cmd := &cobra.Command{
		Use:               "stop [run]...",
		ValidArgsFunction: cmdutil.CompleteRuns(f, true, true),
		Short:             "Stop running runs",
		Long: `Stop runs, addressed by ID, ID prefix or name (default: the most recent
running run). The command gets SIGTERM, then SIGKILL after --time seconds
(10 unless given; 0 kills it at once). The run's logs are kept; its
container is removed unless it was started with --keep. Each stopped run's
ID is printed; with several runs, one that cannot be stopped is reported
and the others are still stopped, and moat then exits 1.

A run in the foreground of another terminal ends there with its command's
exit code: 143 after SIGTERM, 137 if it was killed.`,
		Example: `  $ moat stop web
  $ moat stop web worker 3f9a1c

  # Kill at once, without waiting for the command to exit
  $ moat stop -t 0 web`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			if opts.Time < 0 {
				return cmdutil.FlagErrorf("--time must be 0 or more seconds, got %d", opts.Time)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return stopRuns(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Time, "time", "t", opts.Time, "Seconds to wait for the command to exit before killing it")
	return cmd
}

func stopRuns(ctx context.Context, o *Options) error {
	mgr, err := o.Manager(ctx)
	if err != nil {
		return err
	}
	return cmdutil.EachRun(ctx, o.IO.ErrOut, o.Refs, func(ref string) error { return stopRun(ctx, o, mgr, ref) })
}

func stopRun(ctx context.Context, o *Options, mgr *run.Manager, ref string) error {
	r, err := mgr.Find(ctx, ref, run.IsActive, "running")
	if err != nil {
		return err
	}
	if !run.IsActive(r) {
		fmt.Fprintf(o.IO.ErrOut, "Run %s (%s) is not running (%s).\n", r.ID, r.Name, r.Status)
		return nil
	}
	if err := mgr.StopWithin(ctx, r, time.Duration(o.Time)*time.Second); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.Out, r.ID)
	return nil
}
