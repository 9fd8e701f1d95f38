// Package list implements 'moat list': runs with their states, checked
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

	All     bool
	JSON    bool
	Quiet   bool
	Filters []string
	Format  string
}

// NewCmdList builds the command; runF replaces the work in tests.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, Store: f.Store, Now: time.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "ps"},
		Short:   "List runs",
		Long: `List runs, newest first: the active ones (created or running), or with -a
every run, as docker ps does. Every output (the table, -q, --json and
--format) shows the same runs. States are checked against the engine, so a
run whose container ended or vanished while no moat process was watching
shows its real state.

--filter KEY=VALUE narrows the list; give it again for more. Values of one
key are alternatives, different keys must all match:
  id=PREFIX          the run ID starts with PREFIX
  name=TEXT          the run's name contains TEXT
  state=STATE        created, running, exited, stopped, failed or lost
                     (status= is the same); implies -a
  exited=CODE        the command ended with CODE; implies -a
  workspace=PATH     the run's workspace is PATH (relative to here)

--format takes a Go template, run once per run, as docker's does:
{{.ID}}, {{.Name}}, {{.State}}, {{.Status}} (the state with the exit
code), {{.ExitCode}}, {{.Workspace}}, {{.CommandLine}}, {{.CreatedAt}}, and
every key of --json by its field name ('moat inspect --help' lists them);
{{json .}} is the run as --json shows it. Functions: json, join, split,
lower, upper, truncate. A template starting with "table" prints a header
and aligns the columns.`,
		Example: `  # Active runs
  $ moat list

  # Every run's ID, finished ones too
  $ moat list -aq

  # Runs of this workspace that exited with 1
  $ moat list --filter workspace=. --filter exited=1

  $ moat list -a --format 'table {{.ID}}\t{{.Name}}\t{{.Status}}'
  $ moat list --json | jq '.[] | select(.state == "running") | .id'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cmdutil.CheckOutputFlags(opts.Quiet, opts.JSON, opts.Format); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRuns(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "Show every run, not only active ones")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "Print runs as a JSON array")
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "Print run IDs only")
	cmd.Flags().StringArrayVarP(&opts.Filters, "filter", "f", nil, "Show only runs that match `KEY=VALUE` (id, name, state, exited, workspace)")
	cmd.Flags().StringVar(&opts.Format, "format", "", "Print each run through a Go `template`")
	return cmd
}

func listRuns(ctx context.Context, o *Options) error {
	filter, err := parseFilters(o.Filters)
	if err != nil {
		return err
	}
	var format *cmdutil.Format
	if o.Format != "" {
		if format, err = cmdutil.ParseFormat(o.Format); err != nil {
			return err
		}
	}
	all, err := cmdutil.ReadRuns(ctx, &cmdutil.Factory{Manager: o.Manager, Store: o.Store}, o.IO.ErrOut)
	if err != nil {
		return err
	}
	runs := selectRuns(all, filter, o.All)
	switch {
	case o.JSON:
		return cmdutil.WriteJSON(o.IO.Out, cmdutil.ViewRuns(runs))
	case format != nil:
		return writeFormat(o.IO, format, runs)
	case o.Quiet:
		for _, r := range runs {
			fmt.Fprintln(o.IO.Out, r.ID)
		}
		return nil
	}
	if len(runs) == 0 && o.IO.IsStdoutTTY() {
		fmt.Fprintln(o.IO.ErrOut, emptyHint(len(all), len(filter) > 0 || o.All))
		return nil
	}
	return writeTable(o.IO.Out, runs, o.IO.IsStdoutTTY(), o.Now())
}

// emptyHint is what a terminal shows for an empty list.
func emptyHint(stored int, narrowed bool) string {
	switch {
	case stored == 0:
		return "No runs. Start one with 'moat run ./project -- cmd'."
	case narrowed:
		return "No runs match."
	}
	return fmt.Sprintf("No active runs. 'moat list -a' shows all %d.", stored)
}

func writeFormat(ios *iostreams.IOStreams, format *cmdutil.Format, runs []*state.Run) error {
	items := make([]any, 0, len(runs))
	for _, v := range cmdutil.ViewRuns(runs) {
		items = append(items, v)
	}
	return format.Execute(ios.Out, ios.IsStdoutTTY(), cmdutil.RunHeaders, items)
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
	ports := slices.ContainsFunc(runs, func(r *state.Run) bool { return len(r.Ports) > 0 })
	if ports {
		header = append(header, "PORTS")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range runs {
		created := r.CreatedAt.UTC().Format(time.RFC3339)
		cmd := termtext.Field(strings.Join(r.Command, " "))
		if tty {
			created, cmd = ago(now.Sub(r.CreatedAt)), shorten(cmd, 30)
		}
		row := []string{r.ID, termtext.Field(r.Name), cmdutil.ViewRun(r).Status(), created, cmd, termtext.Field(r.Workspace)}
		if caches {
			row = append(row, orDash(cacheOrigin(r)))
		}
		if ports {
			row = append(row, orDash(cmdutil.ViewRun(r).PortList()))
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

// orDash is s, or "-" in a table cell when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
