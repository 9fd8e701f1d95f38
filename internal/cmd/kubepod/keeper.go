package kubepod

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newCmdKeeper() *cobra.Command {
	return &cobra.Command{
		Use:   "keeper",
		Short: "Wait for SIGTERM or SIGINT, then exit 0",
		Long: `Do nothing until SIGTERM or SIGINT: the container that holds a run's pod,
and its volumes, after the main container ends, until moat has copied the
run's directories out and deletes the pod.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			stop := make(chan os.Signal, 1)
			signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
			<-stop
			return nil
		},
	}
}
