// Package revoke implements 'moat revoke': delete stored grants.
package revoke

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
)

// Options are the arguments of 'moat revoke'.
type Options struct {
	IO     *iostreams.IOStreams
	Grants func() (*grant.Store, error)

	Names []string
}

// NewCmdRevoke builds the command; runF replaces the work in tests.
func NewCmdRevoke(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Grants: f.Grants}
	cmd := &cobra.Command{
		Use:   "revoke <name>...",
		Short: "Delete stored grants",
		Long: `Delete grants by name (see 'moat grant list'), including ones that can no
longer be read. The credential itself stays valid at its provider: revoke
it there too if it may have leaked.`,
		Example: `  $ moat revoke github
  $ moat revoke internal-api openai`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return revoke(opts)
		},
	}
	return cmd
}

// revoke deletes every named grant it can, like rm, and returns the
// errors for the others.
func revoke(o *Options) error {
	store, err := o.Grants()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range o.Names {
		if err := store.Delete(name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.IO.ErrOut, "Revoked grant %s\n", name)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
