// Package wait implements 'moat wait': block until runs end and print
// their exit codes, as docker wait does.
package wait

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the arguments of 'moat wait'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Refs []string
}

// NewCmdWait builds the command; runF replaces the work in tests.
func NewCmdWait(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:               "wait <run>...",
		ValidArgsFunction: cmdutil.CompleteRuns(f, false, true),
		Short:             "Wait for runs to end and print their exit codes",
		Long: `Block until each run (by ID, ID prefix or name) has ended and print its
command's exit code, one per line in the order given, as docker wait does.
A run that has already ended prints at once; -1 means moat never learned
the code (a run that failed to start or whose container vanished). The
run is finished as 'moat list' would finish it: logs kept, container
removed unless it was started with --keep. moat wait exits 0 whatever the
codes are; a run that does not exist is reported on stderr, the others
are still waited for, and moat then exits 1.`,
		Example: `  $ id=$(moat run -d ./project -- make test)
  $ moat wait "$id"
  0`,
		Args: cmdutil.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return waitRuns(cmd.Context(), opts)
		},
	}
	return cmd
}

func waitRuns(ctx context.Context, o *Options) error {
	mgr, err := o.Manager(ctx)
	if err != nil {
		return err
	}
	return cmdutil.EachRun(ctx, o.IO.ErrOut, o.Refs, func(ref string) error {
		r, err := mgr.Find(ctx, ref, nil, "")
		if err != nil {
			return err
		}
		if r, err = mgr.Wait(ctx, r); err != nil {
			return err
		}
		code := -1
		if r.ExitCode != nil {
			code = *r.ExitCode
		}
		fmt.Fprintln(o.IO.Out, code)
		return nil
	})
}
