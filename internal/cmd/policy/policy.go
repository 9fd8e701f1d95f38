// Package policy implements 'moat policy', commands about a workspace's
// network policy: 'moat policy suggest' reads a run's trace and writes the
// network.allow rules its workspace lacks as a diff to agent.yaml.
package policy

import (
	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
)

// NewCmdPolicy builds 'moat policy' and its subcommands.
func NewCmdPolicy(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy <command>",
		Short: "Work with a workspace's network policy",
		Long: `Work with the network policy in a workspace's agent.yaml (network.policy,
network.allow): see docs/policy.md.`,
		Example: `  # The rules the last run lacked under a strict policy, as a diff
  $ moat policy suggest`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(NewCmdSuggest(f, nil))
	return cmd
}
