// Package stop implements 'moat stop': end a running run.
package stop

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the arguments of 'moat stop'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Ref string
}

// NewCmdStop builds the command; runF replaces the work in tests.
func NewCmdStop(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:   "stop [run]",
		Short: "Stop a running run",
		Long: `Stop a run, addressed by ID, ID prefix or name (default: the most recent
running run). The command gets SIGTERM, then SIGKILL after 10 seconds. The
run's logs are kept; its container is removed unless it was started with
--keep.`,
		Example: `  $ moat stop web`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return stopRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func stopRun(ctx context.Context, o *Options) error {
	mgr, err := o.Manager(ctx)
	if err != nil {
		return err
	}
	r, err := mgr.Find(ctx, o.Ref, run.IsActive, "running")
	if err != nil {
		return err
	}
	if !run.IsActive(r) {
		fmt.Fprintf(o.IO.ErrOut, "Run %s (%s) is not running (%s).\n", r.ID, r.Name, r.Status)
		return nil
	}
	if err := mgr.Stop(ctx, r); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.Out, r.ID)
	return nil
}
