// Package revoke implements 'moat revoke': delete stored grants.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
)

// Options are the arguments of 'moat revoke'.
type Options struct {
	IO     *iostreams.IOStreams
	Grants func() (*grant.Store, error)
	// Runs are the runs recorded, to name those a revoked grant stays
	// with until they end.
	Runs func(context.Context) ([]*state.Run, error)

	Names []string
}

// NewCmdRevoke builds the command; runF replaces the work in tests.
func NewCmdRevoke(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Grants: f.Grants, Runs: func(ctx context.Context) ([]*state.Run, error) {
		if f.Manager == nil || f.Store == nil {
			return nil, errors.New("no run store") // a Factory for grants alone
		}
		runs, _, err := cmdutil.LoadRuns(ctx, f)
		if runs == nil {
			return nil, err
		}
		return runs, nil
	}}
	cmd := &cobra.Command{
		Use:               "revoke <name>...",
		ValidArgsFunction: cmdutil.CompleteGrants(f),
		Short:             "Delete stored grants",
		Long: `Delete grants by name (see 'moat grant list'), including ones that can no
longer be read. New runs cannot use a revoked grant; runs already going
keep it until they end (their proxy holds the credential), and moat names
them: stop them to end its use now. The credential itself stays valid at
its provider: revoke it there too if it may have leaked.`,
		Example: `  $ moat revoke github
  $ moat revoke internal-api openai`,
		Args: cmdutil.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return revoke(cmd.Context(), opts)
		},
	}
	return cmd
}

// revoke deletes every named grant it can, like rm, and returns the
// errors for the others.
func revoke(ctx context.Context, o *Options) error {
	store, err := o.Grants()
	if err != nil {
		return err
	}
	var errs []error
	var revoked []string
	for _, name := range o.Names {
		if err := store.Delete(name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.IO.ErrOut, "Revoked grant %s\n", name)
		revoked = append(revoked, name)
	}
	if len(revoked) > 0 {
		noteRunsKeepingGrants(ctx, o, revoked)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// noteRunsKeepingGrants names the active runs that use a revoked grant:
// their proxy holds the credential until the run ends.
func noteRunsKeepingGrants(ctx context.Context, o *Options, revoked []string) {
	runs, err := o.Runs(ctx)
	if err != nil {
		fmt.Fprintln(o.IO.ErrOut, "Runs already going (if any use it) keep the grant until they end; 'moat list' shows them.")
		return
	}
	var names, ids []string
	for _, r := range runs {
		if r.Status.Active() && slices.ContainsFunc(r.Grants, func(g string) bool { return slices.Contains(revoked, g) }) {
			names = append(names, fmt.Sprintf("%s (%s)", termtext.Field(r.Name), r.ID))
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	fmt.Fprintf(o.IO.ErrOut, "Runs already going keep it until they end: %s.\nStop them to end its use now: 'moat stop %s'.\n",
		strings.Join(names, ", "), strings.Join(ids, " "))
}
