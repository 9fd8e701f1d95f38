// Package verify implements 'moat audit verify': check an exported audit
// bundle offline, on any machine.
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
	"github.com/moatsh/moat/internal/termtext"
)

// Options are the arguments of 'moat audit verify'.
type Options struct {
	IO   *iostreams.IOStreams
	File string
}

// NewCmdVerify builds the command; runF replaces the work in tests.
func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify an exported audit bundle offline",
		Long: `Verify a bundle written by 'moat audit --export': the hash chain, and every
checkpoint signature against the public key in the bundle. Compare the key
fingerprint it prints with the one 'moat audit' shows on the machine that
ran the agent. It needs no moat home, no engine and no network.`,
		Example: `  $ moat audit verify web-audit.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return verifyBundle(opts)
		},
	}
}

func verifyBundle(o *Options) error {
	data, err := os.ReadFile(o.File)
	if err != nil {
		return err
	}
	var b audit.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("reading %s: not a moat audit bundle: %w", o.File, err)
	}
	r, err := b.Verify()
	if err != nil {
		return fmt.Errorf("%s: %w", o.File, err)
	}
	// A bundle is a finished record: an open log is reported as such.
	text, err := r.Describe(fmt.Sprintf("bundle %s (run %s)", o.File, b.RunID), false)
	fmt.Fprint(o.IO.Out, termtext.String(text)) // a bundle, and event kinds in it, may come from anywhere
	return err
}
