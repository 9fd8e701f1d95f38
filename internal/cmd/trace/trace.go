// Package trace implements 'moat trace': the network requests a run's
// egress proxy recorded in its audit log, as a table, JSON or a HAR file.
package trace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/plural"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/trace"
)

// Options are the flags and arguments of 'moat trace'.
type Options struct {
	IO       *iostreams.IOStreams
	Manager  func(context.Context) (*run.Manager, error)
	Store    func() (*state.Store, error)
	Version  string
	Location *time.Location // for the table's times

	Ref     string
	Network bool // the only kind of trace today, and the default
	JSON    bool
	HAR     string
	Follow  bool
}

// NewCmdTrace builds the command; runF replaces the work in tests.
func NewCmdTrace(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, Store: f.Store, Version: f.Version, Location: time.Local}
	cmd := &cobra.Command{
		Use:               "trace [run]",
		ValidArgsFunction: cmdutil.CompleteRuns(f, false, false),
		Short:             "Show the network requests a run made",
		Long: `Show every request a run's egress proxy handled, addressed by ID, ID
prefix or name (default: the most recent run): time, method, URL, status,
duration, body bytes each way, the grant whose credential was injected (its
name, never the value) and the policy's decision.

The requests come from the run's audit log, so the trace is as
tamper-evident as the log; 'moat audit' verifies it. A blind CONNECT
tunnel, which moat forwards without looking inside, shows as one CONNECT
line to host:port.

With -f, print the requests so far, then each new one as the proxy records
it (in the order they end), until the run has ended: a detached run, live.

With --json, print a JSON array; with --har, write a HAR 1.2 archive that a
browser's developer tools open (Network panel, Import HAR). Each HAR entry
names the audit entry it came from (sequence number and hash), so that
'moat audit verify --har FILE' detects an entry edited, removed or
reordered after the archive was shared. A HAR holds no header values:
neither a credential nor its placeholder.`,
		Example: `  # The most recent run's requests
  $ moat trace

  # Watch a detached run's requests as they happen
  $ moat trace -f web

  # Requests the policy refused
  $ moat trace web --json | jq '.[] | select(.denied)'

  # Open in Chrome or Firefox developer tools
  $ moat trace web --har web.har

  # Check a HAR against the run's audit log (after sharing it, say)
  $ moat audit verify --har web.har`,
		Args: cmdutil.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			if opts.JSON && opts.HAR != "" {
				return cmdutil.FlagErrorf("--json and --har cannot be used together")
			}
			if opts.Follow && (opts.JSON || opts.HAR != "") {
				return cmdutil.FlagErrorf("--follow prints the table: it cannot be used with --json or --har")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return traceRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Network, "network", false, "Show network requests (the default and, for now, the only kind)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "Print requests as a JSON array")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "Print new requests as the proxy records them, until the run ends")
	cmd.Flags().StringVar(&opts.HAR, "har", "", "Write requests as a HAR 1.2 archive to `FILE` (- for stdout)")
	return cmd
}

func traceRun(ctx context.Context, o *Options) error {
	r, store, err := cmdutil.FindRun(ctx, &cmdutil.Factory{Manager: o.Manager, Store: o.Store}, o.Ref)
	if err != nil {
		return err
	}
	if o.Follow {
		return o.follow(ctx, store, r)
	}
	l, err := readLog(o.IO.ErrOut, store, r.ID)
	if err != nil {
		return err
	}
	reqs := l.All()
	switch {
	case o.HAR != "":
		return o.writeHAR(l, r.ID)
	case len(reqs) == 0:
		if o.JSON {
			fmt.Fprintln(o.IO.Out, "[]")
		}
		fmt.Fprintf(o.IO.ErrOut, "no network requests recorded for run %s\n", r.ID)
		return nil
	case o.JSON:
		return writeJSON(o.IO.Out, reqs)
	}
	return writeTable(o.IO.Out, reqs, o.IO.IsStdoutTTY(), o.Location)
}

// readLog reads the run's audit log. It does not verify the chain
// ('moat audit' does), but a line it cannot read is an error.
func readLog(errOut io.Writer, store *state.Store, runID string) (trace.Log, error) {
	f, err := run.OpenAuditLog(store, runID)
	if errors.Is(err, fs.ErrNotExist) {
		return trace.Log{}, fmt.Errorf("run %s has no audit log (%s)", runID, store.Path(runID, run.AuditFile))
	}
	if err != nil {
		return trace.Log{}, fmt.Errorf("opening the audit log of run %s: %w", runID, err)
	}
	defer f.Close()
	l, err := trace.Read(f)
	var lineErr *audit.LineError
	if errors.As(err, &lineErr) {
		return trace.Log{}, cmdutil.WithHint(fmt.Errorf("reading the audit log of run %s: %w", runID, err),
			fmt.Sprintf("Run 'moat audit %s' to check the log.", runID))
	}
	if err != nil {
		return trace.Log{}, fmt.Errorf("reading the audit log of run %s: %w", runID, err)
	}
	if l.Torn > 0 {
		fmt.Fprintf(errOut, "note: the audit log of run %s ends in a partial entry (%s), left out; 'moat audit %s' says more\n", runID, plural.Count(l.Torn, "byte"), runID)
	}
	for _, note := range l.Truncated {
		fmt.Fprintf(errOut, "note: the trace of run %s is incomplete: %s\n", runID, note)
	}
	return l, nil
}

// writeHAR writes run runID's archive to the file named by --har, or stdout.
func (o *Options) writeHAR(l trace.Log, runID string) error {
	if o.HAR == "-" {
		return trace.WriteHAR(o.IO.Out, l, runID, o.Version)
	}
	var buf bytes.Buffer
	if err := trace.WriteHAR(&buf, l, runID, o.Version); err != nil {
		return err
	}
	if err := state.WriteFileAtomic(o.HAR, buf.Bytes(), 0o644); err != nil {
		return err // it names o.HAR
	}
	fmt.Fprintf(o.IO.ErrOut, "Wrote %s to %s\n", plural.Count(len(l.Requests), "request"), o.HAR)
	return nil
}
