// Package audit implements 'moat audit': verify a run's tamper-evident
// log and print a summary, or export it as a bundle for offline checks.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmd/audit/verify"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
)

// Options are the flags and arguments of 'moat audit'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)
	Store   func() (*state.Store, error)
	Now     func() time.Time

	Ref    string
	Export string
	JSON   bool
}

// NewCmdAudit builds the command; runF replaces the work in tests.
func NewCmdAudit(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, Store: f.Store, Now: time.Now}
	cmd := &cobra.Command{
		Use:               "audit [run]",
		ValidArgsFunction: cmdutil.CompleteRuns(f, false, false),
		Short:             "Verify a run's tamper-evident audit log",
		Long: `Verify the audit log of a run, addressed by ID, ID prefix or name (default:
the most recent run), and print a summary: entries, time span, signed
checkpoints and events by kind.

Every entry carries the hash of the one before it, and your Ed25519 key
(~/.moat/keys) signs the chain head periodically and at the end of the run.
If anything was changed, removed, added or reordered, moat audit names the
first entry that fails and why, and exits 1. A log whose writer was killed
ends in a torn entry, which is reported as such, not as tampering.

With --json, it prints the result for scripts instead: status ("ok",
"open", "not-closed" or "tampered"), verified, the counts, the key
fingerprints and every problem found.

With --export, it also writes a self-contained bundle (entries, checkpoints,
public key) that 'moat audit verify FILE' checks on any machine.`,
		Example: `  $ moat audit web
  $ moat audit web --export web-audit.json
  $ moat audit web --json | jq -r .status
  $ moat audit verify web-audit.json`,
		Args: cmdutil.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return auditRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Export, "export", "", "Also write a bundle for offline verification to `FILE`")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "Print the result as JSON (the exit code is the same)")
	cmd.AddCommand(verify.NewCmdVerify(f, nil))
	return cmd
}

func auditRun(ctx context.Context, o *Options) error {
	r, store, err := cmdutil.FindRun(ctx, &cmdutil.Factory{Manager: o.Manager, Store: o.Store}, o.Ref)
	if err != nil {
		return err
	}
	pub, err := audit.LoadPublicKey(store.KeysDir())
	if err != nil {
		return err
	}
	f, err := run.OpenAuditLog(store, r.ID)
	if err != nil {
		return fmt.Errorf("run %s has no audit log: %w", r.ID, err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, r.ID, pub)
	if err != nil {
		return err
	}
	if o.Export != "" {
		if err := export(f, r.ID, pub, o.Export, o.Now()); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "Exported the audit log of run %s to %s.\n", r.ID, o.Export)
	}
	text, err := rep.Describe(fmt.Sprintf("run %s (%s)", r.ID, r.Name), r.Status.Active())
	if o.JSON {
		if jerr := cmdutil.WriteJSON(o.IO.Out, newReportJSON(r, rep, err == nil)); jerr != nil {
			return jerr
		}
		if err != nil {
			cmdutil.PrintError(o.IO.ErrOut, err)
			return &cmdutil.ExitError{Code: 1}
		}
		return nil
	}
	fmt.Fprint(o.IO.Out, termtext.String(text)) // a bundle, and event kinds in it, may come from anywhere
	return err
}

func export(f *os.File, runID string, pub []byte, path string, now time.Time) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	b, err := audit.NewBundle(f, runID, pub, now)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return state.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
