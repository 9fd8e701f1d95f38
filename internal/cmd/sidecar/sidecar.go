// Package sidecar owns the commands moat runs inside containers rather than
// for the user: 'proxy serve' (a run's egress proxy), 'proxy relay' (the
// agent's end of it), 'userns-run' and 'init-wait' (moat-init's helpers),
// 'kube ...' (the helpers in a run's pods on Kubernetes).
// They are built into moat and into moat-sidecar, a program of these
// commands alone: without the Engine and BuildKit clients, it starts in a
// fraction of moat's time, and a run starts three to six of them. Nothing
// here may import what reaches an engine (internal/archtest holds to it).
package sidecar

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	initwaitcmd "github.com/moatsh/moat/internal/cmd/initwait"
	"github.com/moatsh/moat/internal/cmd/kubepod"
	proxycmd "github.com/moatsh/moat/internal/cmd/proxy"
	usernscmd "github.com/moatsh/moat/internal/cmd/userns"
)

// Commands returns new copies of the hidden commands, for moat's root and
// moat-sidecar's.
func Commands() []*cobra.Command {
	return []*cobra.Command{proxycmd.NewCmdProxy(), usernscmd.NewCmdUsernsRun(), usernscmd.NewCmdOCIRuntime(), initwaitcmd.NewCmdInitWait(), kubepod.NewCmdKube()}
}

// Main runs moat-sidecar with args and returns its exit code: 0, 2 for a
// usage error, 1 for any other (each command documents its own codes).
func Main(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:   "moat-sidecar <command>",
		Short: "moat's commands inside a run's containers (moat starts them; not for direct use)",
		Long: `moat-sidecar holds the commands moat runs inside a run's containers: the
egress proxy and its relay, and moat-init's helpers. moat uses it when it
lies beside moat's own binary, and runs them from moat itself otherwise.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, c := range Commands() {
		c.Hidden = false // they are all this program has
		root.AddCommand(c)
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "moat-sidecar: %v\n", err)
	var usage usageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}

type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
