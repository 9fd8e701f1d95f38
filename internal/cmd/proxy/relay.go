package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/egress"
)

func newCmdRelay() *cobra.Command {
	var listen, socket string
	var wait time.Duration
	var listenerFD int
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Open the agent's proxy port and hand it to the proxy sidecar",
		Long: `Open the agent's proxy port and hand it to the proxy sidecar.

It returns once the port is open, leaving a process in the background (a
session of its own) that hands the listening socket to the proxy over its
unix socket and then holds that connection for as long as it lives: the
proxy stops once it closes. Connections made before the proxy takes the
socket wait in its backlog.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listenerFD > 0 { // the background half
				ln, err := inheritedListener(listenerFD)
				if err != nil {
					return fmt.Errorf("relay: %w", err)
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
				defer stop()
				return egress.Relay(ctx, ln, socket, wait)
			}
			addr, err := net.ResolveTCPAddr("tcp", listen)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			ln, err := net.ListenTCP("tcp", addr)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			defer ln.Close() // the background half has its own copy
			if err := startBackground(ln, socket, wait); err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:3128", "TCP `address` the agent's HTTP_PROXY names")
	cmd.Flags().StringVar(&socket, "socket", "", "the proxy's unix socket `path`")
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for the proxy's socket")
	cmd.Flags().IntVar(&listenerFD, "listener-fd", 0, "serve the listening socket inherited as `FD` (the background half)")
	cmd.Flags().MarkHidden("listener-fd")
	cmd.MarkFlagRequired("socket")
	return cmd
}

// startBackground starts this program again, in a session of its own, to
// hand ln over and hold the connection, and returns once it runs.
func startBackground(ln *net.TCPListener, socket string, wait time.Duration) error {
	f, err := ln.File()
	if err != nil {
		return err
	}
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	c := exec.Command(exe, "proxy", "relay", "--socket", socket, "--wait", wait.String(), "--listener-fd", "3")
	c.ExtraFiles = []*os.File{f} // descriptor 3
	c.Stderr = os.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return err
	}
	return c.Process.Release()
}

func inheritedListener(fd int) (*net.TCPListener, error) {
	f := os.NewFile(uintptr(fd), "proxy-port")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return nil, errors.New("descriptor " + strconv.Itoa(fd) + " is not a TCP listener")
	}
	return tl, nil
}
