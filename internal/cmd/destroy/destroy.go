// Package destroy implements 'moat destroy': remove a run and all it left.
package destroy

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/termtext"
)

// Options are the flags and arguments of 'moat destroy'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Refs  []string
	Force bool
}

// NewCmdDestroy builds the command; runF replaces the work in tests.
func NewCmdDestroy(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:               "destroy [run]...",
		ValidArgsFunction: cmdutil.CompleteRuns(f, false, true),
		Aliases:           []string{"rm"},
		Short:             "Remove runs, their containers, logs and records",
		Long: `Remove runs, addressed by ID, ID prefix or name: each run's container,
every engine object labelled with it, its logs, its audit log and its
record. A running run is refused unless -f is given. Without a name, moat
asks about the most recent finished run on a terminal, and refuses without
one. Each removed run's ID is printed; with several runs, one that cannot
be removed is reported and the others are still removed, and moat then
exits 1.`,
		Example: `  $ moat destroy web
  $ moat destroy -f 3f9a1c
  $ moat rm web worker`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return destroyRuns(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "Destroy a running run too")
	return cmd
}

func destroyRuns(ctx context.Context, o *Options) error {
	mgr, err := o.Manager(ctx)
	if err != nil {
		return err
	}
	return cmdutil.EachRun(ctx, o.IO.ErrOut, o.Refs, func(ref string) error { return destroyRun(ctx, o, mgr, ref) })
}

func destroyRun(ctx context.Context, o *Options, mgr *run.Manager, ref string) error {
	r, err := mgr.Find(ctx, ref, run.IsFinished, "finished")
	if err != nil {
		return err
	}
	if ref == "" {
		// Destroying deletes the audit log: a run named by nobody is asked
		// about, never guessed.
		if !o.IO.IsStdinTTY() {
			return cmdutil.WithHint(fmt.Errorf("refusing to destroy run %s (%s), the most recent finished one, without a name: stdin is not a terminal to ask on", r.ID, termtext.Field(r.Name)),
				"Name the run: moat destroy "+r.ID)
		}
		if !cmdutil.Confirm(o.IO, fmt.Sprintf("Destroy run %s (%s), its logs and its audit log?", r.ID, termtext.Field(r.Name))) {
			fmt.Fprintln(o.IO.ErrOut, "Nothing destroyed.")
			return &cmdutil.ExitError{Code: 1}
		}
	}
	if err := mgr.Destroy(ctx, r, o.Force); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.Out, r.ID)
	return nil
}
