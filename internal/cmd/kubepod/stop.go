package kubepod

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newCmdStop() *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "stop [--grace DURATION]",
		Short: "Stop the main container from inside it, as 'docker stop' does",
		Long: `Run in a pod's main container (over exec): send SIGTERM to its PID 1,
'kube init', which passes it on to the command; if the container still
runs after --grace, send SIGKILL to every process in it but PID 1 (which
a process of its PID namespace cannot kill), so that init's command
ends and init exits with 137.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return stopContainer(grace) },
	}
	cmd.Flags().DurationVar(&grace, "grace", 10*time.Second, "how long the command has to end after SIGTERM")
	return cmd
}

func stopContainer(grace time.Duration) error {
	// Anywhere else, PID 1 is a machine's init, and SIGKILL to every
	// process would stop the machine.
	cmdline, err := os.ReadFile("/proc/1/cmdline")
	if err != nil || !bytes.Contains(cmdline, []byte("\x00kube\x00init\x00")) {
		return errors.New("PID 1 is not 'kube init': run 'kube stop' only in a pod's main container")
	}
	if err := syscall.Kill(1, syscall.SIGTERM); err != nil {
		return fmt.Errorf("sending SIGTERM to PID 1: %w", err)
	}
	// When init ends the container ends, and this process with it.
	time.Sleep(grace)
	err = syscall.Kill(-1, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil // nothing left but init and this process
	}
	return err
}
