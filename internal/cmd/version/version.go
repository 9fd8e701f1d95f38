// Package version implements 'moat version'.
package version

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
)

// NewCmdVersion builds the command.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print moat's version",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(f.IOStreams.Out, "moat %s (%s, %s/%s)\n", f.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
