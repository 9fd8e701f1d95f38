// Package list implements 'moat list': every run with its state, checked
// against the engine.
package list

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
)

// Options are the flags of 'moat list'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)
	Store   func() (*state.Store, error)
	Now     func() time.Time

	JSON  bool
	Quiet bool
}

// NewCmdList builds the command; runF replaces the work in tests.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, Store: f.Store, Now: time.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "ps"},
		Short:   "List runs",
		Long: `List runs, newest first. States are checked against the engine, so a run
whose container ended or vanished while no moat process was watching shows
its real state.`,
		Example: `  $ moat list
  $ moat list --json | jq '.[] | select(.state == "running") | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRuns(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "Print runs as a JSON array")
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "Print run IDs only")
	return cmd
}

func listRuns(ctx context.Context, o *Options) error {
	runs, _, err := cmdutil.LoadRuns(ctx, &cmdutil.Factory{Manager: o.Manager, Store: o.Store})
	if err != nil {
		if runs == nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "warning: states may be stale: %v\n", err)
	}
	switch {
	case o.JSON:
		if runs == nil {
			runs = []*state.Run{}
		}
		return cmdutil.WriteJSON(o.IO.Out, runs)
	case o.Quiet:
		for _, r := range runs {
			fmt.Fprintln(o.IO.Out, r.ID)
		}
		return nil
	}
	if len(runs) == 0 && o.IO.IsStdoutTTY() {
		fmt.Fprintln(o.IO.ErrOut, "No runs. Start one with 'moat run ./project -- cmd'.")
		return nil
	}
	return writeTable(o.IO.Out, runs, o.IO.IsStdoutTTY(), o.Now())
}

// writeTable prints aligned columns on a terminal and tab-separated,
// untruncated fields with RFC 3339 times otherwise. Either way each field
// is shown without control characters (termtext.Field): the command and
// the name come from agent.yaml, which the agent can write; --json has
// the exact values.
func writeTable(w io.Writer, runs []*state.Run, tty bool, now time.Time) error {
	var tw io.Writer = w
	var flush func() error
	if tty {
		t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		tw, flush = t, t.Flush
	}
	header := []string{"RUN ID", "NAME", "STATE", "CREATED", "COMMAND", "WORKSPACE"}
	caches := slices.ContainsFunc(runs, func(r *state.Run) bool { return cacheOrigin(r) != "" })
	if caches {
		header = append(header, "CACHE")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range runs {
		created := r.CreatedAt.UTC().Format(time.RFC3339)
		cmd := termtext.Field(strings.Join(r.Command, " "))
		if tty {
			created, cmd = ago(now.Sub(r.CreatedAt)), shorten(cmd, 30)
		}
		row := []string{r.ID, termtext.Field(r.Name), describeState(r), created, cmd, termtext.Field(r.Workspace)}
		if caches {
			origin := cacheOrigin(r)
			if origin == "" {
				origin = "-"
			}
			row = append(row, origin)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if flush != nil {
		return flush()
	}
	return nil
}

// cacheOrigin says where the run's kept cache came from: the run that
// created it and the approved sandbox it is keyed by ("" when the run has
// none).
func cacheOrigin(r *state.Run) string {
	var out []string
	for _, v := range r.Volumes {
		if v.Keep && v.CreatedBy != "" {
			out = append(out, fmt.Sprintf("%s from run %s, config %.12s", termtext.Field(v.Name), termtext.Field(v.CreatedBy), termtext.Field(v.ConfigDigest)))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "; ")
}

func describeState(r *state.Run) string {
	if r.ExitCode != nil && (r.Status == state.Exited || r.Status == state.Stopped) {
		return fmt.Sprintf("%s (%d)", r.Status, *r.ExitCode)
	}
	return string(r.Status)
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// shorten cuts s to n characters, the last one an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
