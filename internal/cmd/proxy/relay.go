package proxy

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/egress"
)

func newCmdRelay() *cobra.Command {
	var listen, socket string
	var wait time.Duration
	var readyFile string
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Open the agent's proxy port and hand it to the proxy sidecar",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := net.ResolveTCPAddr("tcp", listen)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			ln, err := net.ListenTCP("tcp", addr)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			if readyFile != "" {
				// moat-init starts the command once this file exists.
				if err := os.WriteFile(readyFile, []byte("ok\n"), 0o644); err != nil {
					return fmt.Errorf("relay: %w", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return egress.Relay(ctx, ln, socket, wait)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:3128", "TCP `address` the agent's HTTP_PROXY names")
	cmd.Flags().StringVar(&socket, "socket", "", "the proxy's unix socket `path`")
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for the proxy's socket")
	cmd.Flags().StringVar(&readyFile, "ready-file", "", "write a line to `FILE` (a file or FIFO) once the port is open")
	cmd.MarkFlagRequired("socket")
	return cmd
}
