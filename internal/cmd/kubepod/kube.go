// Package kubepod implements the hidden 'moat kube' commands, the helpers
// moat runs inside a run's pods on Kubernetes (docs/kubernetes.md): 'setup'
// (the setup init container), 'init' (PID 1 of the main container),
// 'keeper' (holds the pod until the copy-out), 'done' (moat's signal to
// the first two), 'stop' (stops the main container from inside), and
// 'tar-in' / 'tar-out' (the directory copies, over exec, with
// internal/podfs). It is built into moat-sidecar too (see
// internal/cmd/sidecar), the program the pods run.
package kubepod

import (
	"github.com/spf13/cobra"
)

// NewCmdKube builds the hidden 'kube' command and its subcommands.
func NewCmdKube() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kube <command>",
		Short: "Internal: moat's helpers inside a run's pods on Kubernetes",
		Long: `The commands moat runs inside a run's pods on Kubernetes: the setup
init container, PID 1 of the main container, the keeper container, and
the copies of the run's directories in and out over exec.`,
		Hidden: true,
	}
	cmd.AddCommand(newCmdSetup(), newCmdDone(), newCmdTarIn(), newCmdTarOut(), newCmdInit(), newCmdKeeper(), newCmdStop())
	return cmd
}
