// Package clean implements 'moat clean': remove finished runs, moat images
// no run uses, and engine objects whose run is gone.
package clean

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/plural"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags of 'moat clean'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	DryRun bool
	Force  bool
	Caches bool
}

// NewCmdClean builds the command; runF replaces the work in tests.
func NewCmdClean(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove finished runs, unused images and orphaned engine objects",
		Long: `Remove every finished run (record, logs, container), every moat image that
no running run uses, and every moat-labelled container, network or volume
whose run is finished or unknown (left by a crash). With --caches it also
removes the docker:dind caches (agent.yaml docker.cache) that no running run
uses. It lists what it will remove and asks first, unless -f is given.
Running runs are never touched. Agents' state (the sessions and settings
'moat claude' keeps per workspace) is kept: clean says where it is.
--dry-run prints what would go on stdout, one object a line (kind, ID,
name), and removes nothing; notes and totals go to stderr.`,
		Example: `  $ moat clean --dry-run
  $ moat clean -f`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return clean(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "Only list what would be removed")
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.Caches, "caches", false, "Also remove docker:dind caches (docker.cache) no running run uses")
	return cmd
}

func clean(ctx context.Context, o *Options) error {
	mgr, err := o.Manager(ctx)
	if err != nil {
		return err
	}
	plan, err := mgr.PlanClean(ctx, o.Caches)
	if err != nil {
		return err
	}
	defer keptAgentState(o.IO.ErrOut, mgr.Store.Root)
	if plan.Empty() {
		fmt.Fprintln(o.IO.ErrOut, "Nothing to clean.")
		return nil
	}
	if o.DryRun {
		// The list is the result asked for: stdout, for scripts.
		fmt.Fprintln(o.IO.ErrOut, "Would remove:")
		describe(o.IO.Out, o.IO.ErrOut, "", plan)
		return nil
	}
	fmt.Fprintln(o.IO.ErrOut, "Will remove:")
	describe(o.IO.ErrOut, o.IO.ErrOut, "  ", plan)
	if !o.Force {
		ok, err := confirm(o.IO)
		if err != nil || !ok {
			return err
		}
	}
	if err := mgr.Clean(ctx, plan); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.ErrOut, "Cleaned.")
	return nil
}

// keptAgentState says where agents' state is, which clean keeps: it is
// the user's (sessions, history), not a leftover.
func keptAgentState(w io.Writer, home string) {
	dir := filepath.Join(home, run.AgentStateRoot)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	fmt.Fprintf(w, "Kept: agents' sessions and settings, per workspace, in %s.\n", dir)
	fmt.Fprintln(w, "Remove a directory there to forget an agent's state for that workspace.")
}

// describe writes one line per object the plan removes to w, each
// starting with indent, and the totals to notes.
func describe(w, notes io.Writer, indent string, p run.CleanPlan) {
	for _, r := range p.Runs {
		fmt.Fprintf(w, "%srun       %s  %s (%s)\n", indent, r.ID, r.Name, r.Status)
	}
	var size int64
	for _, img := range p.Images {
		size += img.Size
		if img.Name == "<untagged>" {
			fmt.Fprintf(w, "%simage     %s  (untagged)\n", indent, shortID(img.ID))
		} else {
			fmt.Fprintf(w, "%simage     %s\n", indent, img.Name)
		}
	}
	for _, o := range p.Orphans {
		fmt.Fprintf(w, "%s%-9s %s  %s (orphaned)\n", indent, o.Kind, shortID(o.ID), o.Name)
	}
	for _, c := range p.Caches {
		fmt.Fprintf(w, "%scache     %s\n", indent, c.Name)
	}
	fmt.Fprintf(notes, "%s, %s (%.1f MB), %s, %s\n",
		plural.Count(len(p.Runs), "run"), plural.Count(len(p.Images), "image"), float64(size)/1e6,
		plural.Count(len(p.Orphans), "orphaned object"), plural.Count(len(p.Caches), "cache"))
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// confirm asks on the terminal; without one it refuses rather than guess.
func confirm(io *iostreams.IOStreams) (bool, error) {
	if !io.IsStdinTTY() {
		return false, cmdutil.WithHint(fmt.Errorf("refusing to clean without confirmation: stdin is not a terminal"),
			"Run 'moat clean -f' to clean without asking, or 'moat clean --dry-run' to only list.")
	}
	if !cmdutil.Confirm(io, "Remove these?") {
		fmt.Fprintln(io.ErrOut, "Nothing removed.")
		return false, nil
	}
	return true, nil
}
