// Package verify implements 'moat audit verify': check an exported audit
// bundle offline, on any machine, and check a HAR archive ('moat trace
// --har') against the audit log it was written from.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
)

// Options are the flags and arguments of 'moat audit verify'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)
	Store   func() (*state.Store, error)

	// Target is the bundle's file; with HAR, a bundle's file or a run
	// (ID, prefix or name), empty for the run the HAR names.
	Target string
	HAR    string
}

// NewCmdVerify builds the command; runF replaces the work in tests.
func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "verify {BUNDLE | --har HAR [run | BUNDLE]}",
		Short: "Verify an exported audit bundle offline, or a HAR against its audit log",
		Long: `Verify a bundle written by 'moat audit --export': the hash chain, and every
checkpoint signature against the public key in the bundle. Compare the key
fingerprint it prints with the one 'moat audit' shows on the machine that
ran the agent. It needs no moat home, no engine and no network.

With --har, verify a HAR archive written by 'moat trace --har' against the
audit log of its run: the run it names (or the run given by ID, prefix or
name), or a BUNDLE of that run's log for a HAR shared with you. The
log is verified first, as 'moat audit' does; then every HAR entry must name
a request entry of the log by sequence number and hash, hold exactly what
that entry records (method, URL, status, sizes, times, grant, decision,
error; no field more or less), and come in arrival order, and no request of
the range the HAR covers may be missing. Each difference is named (the
entry's index in log.entries, its audit entry and the field) and the
command exits 1. An argument naming an existing file is read as a bundle,
anything else as a run.`,
		Example: `  # Check a bundle on any machine
  $ moat audit verify web-audit.json

  # Check a HAR against its run's log on this machine
  $ moat audit verify --har web.har

  # Check a HAR someone shared, with their bundle of the run's log
  $ moat audit verify --har web.har web-audit.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.HAR != "" {
				return cmdutil.MaximumNArgs(1)(cmd, args)
			}
			return cmdutil.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Target = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.HAR != "" {
				return verifyHAR(cmd.Context(), opts)
			}
			return verifyBundle(opts)
		},
	}
	cmd.Flags().StringVar(&opts.HAR, "har", "", "Check the archive `HAR` ('moat trace --har') against its run's audit log")
	return cmd
}

func verifyBundle(o *Options) error {
	_, err := checkBundle(o)
	return err
}

// checkBundle verifies the bundle o.Target, prints the result and returns
// the bundle, whose entries verify when the error is nil.
func checkBundle(o *Options) (audit.Bundle, error) {
	data, err := os.ReadFile(o.Target)
	if err != nil {
		return audit.Bundle{}, err
	}
	var b audit.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("reading %s: not a moat audit bundle: %w", o.Target, err)
	}
	r, err := b.Verify()
	if err != nil {
		return b, fmt.Errorf("%s: %w", o.Target, err)
	}
	// A bundle is a finished record: an open log is reported as such.
	text, err := r.Describe(fmt.Sprintf("bundle %s (run %s)", o.Target, b.RunID), false)
	fmt.Fprint(o.IO.Out, termtext.String(text)) // a bundle, and event kinds in it, may come from anywhere
	b.Entries = b.Entries[:r.Entries]
	return b, err
}
