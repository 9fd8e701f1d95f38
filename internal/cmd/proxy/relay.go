package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/egress"
)

func newCmdRelay() *cobra.Command {
	var listen, socket string
	var wait time.Duration
	var connFD int
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Open the agent's proxy port and hand it to the proxy sidecar",
		Long: `Open the agent's proxy port and hand it to the proxy sidecar.

It returns once the proxy holds the port, leaving a process in the
background (a session of its own) that holds the hand-over connection for
as long as it lives: the proxy stops once it closes. It fails if the proxy
does not come within --wait, and the agent's command must then not run.

Before it returns, it attests the run's egress as MOAT_ATTEST describes
(no direct route out, the policy's refusal, the token, the grants),
reports the verdicts to the proxy, and exits 3 if a check failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if connFD > 0 { // the background half
				c, err := inheritedConn(connFD)
				if err != nil {
					return fmt.Errorf("relay: %w", err)
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
				defer stop()
				egress.Hold(ctx, c)
				return nil
			}
			if socket == "" {
				return errors.New(`required flag "socket" not set`)
			}
			attestation, err := egress.ParseAttestation(os.Getenv(egress.AttestEnv))
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			addr, err := net.ResolveTCPAddr("tcp", listen)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			ln, err := net.ListenTCP("tcp", addr)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			c, err := egress.Handover(cmd.Context(), ln, socket, wait)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			defer c.Close() // the background half has its own copy
			if why := attest(cmd.Context(), attestation, addr); why != "" {
				c.Close() // the proxy sees the agent gone, and stops
				// The line is moat-init's: attesting is its step, and it
				// exits 125 without adding to it.
				fmt.Fprintf(cmd.ErrOrStderr(), "moat-init: egress attestation failed: %s\n", why)
				os.Exit(exitAttestFailed)
			}
			if err := startHolder(c); err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:3128", "TCP `address` the agent's HTTP_PROXY names")
	cmd.Flags().StringVar(&socket, "socket", "", "the proxy's unix socket `path`")
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for the proxy's socket")
	cmd.Flags().IntVar(&connFD, "conn-fd", 0, "hold the hand-over connection inherited as `FD` (the background half)")
	cmd.Flags().MarkHidden("conn-fd")
	return cmd
}

// exitAttestFailed is the relay's exit status when the attestation
// failed, which moat-init tells apart from the relay's other failures.
const exitAttestFailed = 3

// attestTimeout bounds the whole attestation, report included.
const attestTimeout = 10 * time.Second

// attest checks the run's egress from the agent's namespace, where the
// proxy now serves the port at addr, and reports the verdicts to the
// proxy. It returns why the attestation failed, or "".
func attest(ctx context.Context, a egress.Attestation, addr *net.TCPAddr) string {
	ctx, cancel := context.WithTimeout(ctx, attestTimeout)
	defer cancel()
	port := *addr
	if port.IP == nil || port.IP.IsUnspecified() { // it listens on every address: ask on loopback
		port.IP = net.IPv4(127, 0, 0, 1)
	}
	at := &egress.Attester{Proxy: port.String()}
	res := at.Attest(ctx, a)
	failed, isFailed := res.Failure()
	err := at.Report(ctx, a, res)
	switch {
	case isFailed:
		return failed.Name + ": " + failed.Detail
	case err != nil:
		return err.Error()
	}
	return ""
}

// startHolder starts this program again, in a session of its own, to hold
// the hand-over connection c, and returns once it runs.
func startHolder(c *net.UnixConn) error {
	f, err := c.File()
	if err != nil {
		return err
	}
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	h := exec.Command(exe, "proxy", "relay", "--conn-fd", "3")
	h.ExtraFiles = []*os.File{f} // descriptor 3
	// The attestation's values are the relay's alone; the holder lives
	// as long as the run.
	h.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, egress.AttestEnv+"=") })
	h.Stderr = os.Stderr
	h.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := h.Start(); err != nil {
		return err
	}
	return h.Process.Release()
}

func inheritedConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "proxy-handover")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*net.UnixConn); !ok {
		c.Close()
		return nil, errors.New("descriptor " + strconv.Itoa(fd) + " is not a unix socket")
	}
	return c, nil
}
