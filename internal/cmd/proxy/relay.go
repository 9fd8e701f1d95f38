package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// newCmdRelay builds 'proxy relay'. With egress.ProxyAddrEnv in its
// environment (the proxy in a pod of its own, on Kubernetes), --socket is
// unused: it opens a hold connection to the proxy at that address instead,
// and the background half holds it and forwards every connection to the
// agent's port there.
func newCmdRelay() *cobra.Command {
	var listen, socket, sshAgent string
	var wait time.Duration
	var connFD, listenFD, sshAgentFD int
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
reports the verdicts to the proxy, and exits 3 if a check failed.

With --ssh-agent, it creates a unix socket there that any user may
connect to, before it starts the background process, which serves it:
each connection is carried to the run's ssh agent, which the proxy
serves to the run's token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			proxyAddr := os.Getenv(egress.ProxyAddrEnv)
			if proxyAddr != "" {
				// A file that holds it once the proxy's pod has an address.
				resolved, err := egress.ProxyAddress(cmd.Context(), proxyAddr, wait)
				if err != nil {
					return fmt.Errorf("relay: %w", err)
				}
				proxyAddr = resolved
			}
			if connFD > 0 { // the background half
				h := holder{connFD: connFD, listenFD: listenFD, sshAgentFD: sshAgentFD, proxyAddr: proxyAddr, port: listen}
				if err := h.run(cmd.Context()); err != nil {
					return fmt.Errorf("relay: %w", err)
				}
				return nil
			}
			if socket == "" && proxyAddr == "" {
				return errors.New(`required flag "socket" not set`)
			}
			attestation, err := egress.ParseAttestation(os.Getenv(egress.AttestEnv))
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			var agentSocket *net.UnixListener
			if sshAgent != "" { // before the holder starts, which serves it
				if agentSocket, err = egress.ListenSSHAgent(sshAgent); err != nil {
					return fmt.Errorf("relay: %w", err)
				}
				defer agentSocket.Close() // the holder has its own copy
			}
			addr, err := net.ResolveTCPAddr("tcp", listen)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			ln, err := net.ListenTCP("tcp", addr)
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			r := relay{ctx: cmd.Context(), errOut: cmd.ErrOrStderr(), ln: ln, port: ln.Addr().(*net.TCPAddr),
				attestation: attestation, wait: wait, sshAgent: agentSocket}
			if proxyAddr != "" {
				err = r.forward(proxyAddr)
			} else {
				err = r.handOver(socket)
			}
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:3128", "TCP `address` the agent's HTTP_PROXY names")
	cmd.Flags().StringVar(&socket, "socket", "", "the proxy's unix socket `path`")
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for the proxy's socket")
	cmd.Flags().IntVar(&connFD, "conn-fd", 0, "hold the hand-over connection inherited as `FD` (the background half)")
	cmd.Flags().IntVar(&listenFD, "listen-fd", 0, "forward the connections to the listener inherited as `FD` (the background half, with MOAT_PROXY_ADDR)")
	cmd.Flags().StringVar(&sshAgent, "ssh-agent", "", "serve the run's ssh agent on a unix socket at `path`")
	cmd.Flags().IntVar(&sshAgentFD, "ssh-agent-fd", 0, "serve the ssh-agent socket inherited as `FD` (the background half; the token in "+egress.RelayTokenEnv+")")
	cmd.Flags().MarkHidden("conn-fd")
	cmd.Flags().MarkHidden("listen-fd")
	cmd.Flags().MarkHidden("ssh-agent-fd")
	return cmd
}

// relay is the foreground half of 'proxy relay': it connects the agent's
// port ln to the proxy, attests the run's egress through it and leaves a
// holder in the background.
type relay struct {
	ctx         context.Context
	errOut      io.Writer
	ln          *net.TCPListener
	port        *net.TCPAddr // ln's address, the agent's HTTP_PROXY
	attestation egress.Attestation
	wait        time.Duration
	sshAgent    *net.UnixListener // the ssh-agent socket, or nil
}

// handOver hands the port to the proxy over its unix socket, attests,
// and leaves the holder of the hand-over connection.
func (r relay) handOver(socket string) error {
	c, err := egress.Handover(r.ctx, r.ln, socket, r.wait)
	if err != nil {
		return err
	}
	defer c.Close() // the background half has its own copy
	if why := attest(r.ctx, r.attestation, r.port, false); why != "" {
		c.Close() // the proxy sees the agent gone, and stops
		r.failAttestation(why)
	}
	holder, err := r.startHolder(c, false)
	if err != nil {
		return err
	}
	return holder.Release()
}

// forward opens the hold connection to the proxy at proxyAddr and starts
// the holder, which also forwards the port's connections there, before
// the attestation: the checks go through it as the agent's requests will.
// A failed attestation kills it, which closes the hold.
func (r relay) forward(proxyAddr string) error {
	defer r.ln.Close() // the background half has its own copy
	hold, err := egress.DialHold(r.ctx, proxyAddr, r.attestation.Token, r.wait)
	if err != nil {
		return err
	}
	defer hold.Close()
	holder, err := r.startHolder(hold.(*net.TCPConn), true)
	if err != nil {
		return err
	}
	if why := attest(r.ctx, r.attestation, r.port, true); why != "" {
		holder.Kill()
		holder.Wait()
		hold.Close() // the proxy sees the agent gone, and stops
		r.failAttestation(why)
	}
	return holder.Release()
}

// failAttestation ends the relay with exitAttestFailed, saying why.
func (r relay) failAttestation(why string) {
	// The line is moat-init's: attesting is its step, and it exits 125
	// without adding to it.
	fmt.Fprintf(r.errOut, "moat-init: egress attestation failed: %s\n", why)
	os.Exit(exitAttestFailed)
}

// holder is the background half of 'proxy relay', with what it inherits.
type holder struct {
	connFD     int    // the hand-over connection, or the hold with listenFD
	listenFD   int    // the agent's port, to forward to proxyAddr, or 0
	sshAgentFD int    // the ssh-agent socket, to serve, or 0
	proxyAddr  string // the proxy's address in forward mode
	port       string // the agent's port (--listen), where the ssh agent is asked for
}

// run holds the connection inherited as connFD until the proxy or a
// signal ends it and, meanwhile, given a listener as listenFD, forwards
// its connections to the proxy at proxyAddr, and given the ssh-agent
// socket, serves it.
func (h holder) run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if h.sshAgentFD > 0 {
		ctx, cancel := context.WithCancel(ctx)
		served, err := h.serveSSHAgent(ctx)
		if err != nil {
			cancel()
			return err
		}
		defer func() { cancel(); <-served }() // the socket lives as long as the hold
	}
	if h.listenFD == 0 {
		c, err := inheritedConn(h.connFD, "unix")
		if err != nil {
			return err
		}
		egress.Hold(ctx, c)
		return nil
	}
	if h.proxyAddr == "" {
		return errors.New("--listen-fd forwards to " + egress.ProxyAddrEnv + ", which is not set")
	}
	c, err := inheritedConn(h.connFD, "tcp")
	if err != nil {
		return err
	}
	ln, err := inheritedListener(h.listenFD, "tcp")
	if err != nil {
		c.Close()
		return err
	}
	egress.HoldForwarding(ctx, c, ln, h.proxyAddr)
	return nil
}

// serveSSHAgent serves the ssh-agent socket inherited as sshAgentFD
// until ctx ends, asking the proxy on the agent's port for the run's
// agent with the token in egress.RelayTokenEnv. The channel closes when
// it is done.
func (h holder) serveSSHAgent(ctx context.Context) (<-chan struct{}, error) {
	token := os.Getenv(egress.RelayTokenEnv)
	if token == "" {
		return nil, errors.New("--ssh-agent-fd needs the run's token in " + egress.RelayTokenEnv + ", which is not set")
	}
	ln, err := inheritedListener(h.sshAgentFD, "unix")
	if err != nil {
		return nil, err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		egress.ServeSSHAgentRelay(ctx, ln, h.port, token)
	}()
	return served, nil
}

// exitAttestFailed is the relay's exit status when the attestation
// failed, which moat-init tells apart from the relay's other failures.
const exitAttestFailed = 3

// directProbes, if set, replaces a pod's probes in the forwarded
// no-direct-route check. Only tests set it: the machine they run on has
// a route out.
var directProbes []string

// attestTimeout bounds the whole attestation, report included.
const attestTimeout = 10 * time.Second

// attest checks the run's egress from the agent's namespace, where the
// proxy now serves the port at addr, and reports the verdicts to the
// proxy. It returns why the attestation failed, or "".
func attest(ctx context.Context, a egress.Attestation, addr *net.TCPAddr, forwarded bool) string {
	ctx, cancel := context.WithTimeout(ctx, attestTimeout)
	defer cancel()
	at := &egress.Attester{Proxy: loopback(addr), Forwarded: forwarded, Probes: directProbes}
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

// loopback is the address of the agent's port addr to connect to: on
// 127.0.0.1 if it listens on every address.
func loopback(addr *net.TCPAddr) string {
	port := *addr
	if port.IP == nil || port.IP.IsUnspecified() {
		port.IP = net.IPv4(127, 0, 0, 1)
	}
	return port.String()
}

// fileConn is a connection or listener a child process can inherit.
type fileConn interface{ File() (*os.File, error) }

// startHolder starts the background half with the hand-over connection
// or hold as descriptor 3, the agent's port next if it forwards, and the
// ssh-agent socket, if any, last, with the run's token in its
// environment for it.
func (r relay) startHolder(hold fileConn, forwards bool) (*os.Process, error) {
	args := []string{"--conn-fd", "3"}
	files := []fileConn{hold}
	if forwards {
		args = append(args, "--listen-fd", "4")
		files = append(files, r.ln)
	}
	var env []string
	if r.sshAgent != nil {
		args = append(args, "--ssh-agent-fd", strconv.Itoa(3+len(files)), "--listen", loopback(r.port))
		files = append(files, r.sshAgent)
		env = append(env, egress.RelayTokenEnv+"="+r.attestation.Token)
	}
	return startProcess(args, env, files...)
}

// startProcess starts this program again as 'proxy relay' with args, in
// a session of its own, with env added to its environment and files as
// descriptors 3, 4, ..., and returns the running process.
func startProcess(args, env []string, files ...fileConn) (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	h := exec.Command(exe, append([]string{"proxy", "relay"}, args...)...)
	for _, src := range files {
		f, err := src.File() // a duplicate, for the child
		if err != nil {
			return nil, err
		}
		defer f.Close()
		h.ExtraFiles = append(h.ExtraFiles, f)
	}
	// The attestation's values are the relay's alone; the holder lives
	// as long as the run.
	h.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, egress.AttestEnv+"=") || strings.HasPrefix(kv, egress.RelayTokenEnv+"=")
	}), env...)
	h.Stderr = os.Stderr
	h.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := h.Start(); err != nil {
		return nil, err
	}
	return h.Process, nil
}

// inheritedConn is the connection inherited as fd, which must be of the
// network given ("unix": the hand-over; "tcp": the hold).
func inheritedConn(fd int, network string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "proxy-"+network)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	if c.LocalAddr().Network() != network {
		c.Close()
		return nil, fmt.Errorf("descriptor %d is not a %s socket", fd, network)
	}
	return c, nil
}

// inheritedListener is the listener inherited as fd, which must be of
// the network given ("tcp": the agent's port; "unix": the ssh-agent
// socket).
func inheritedListener(fd int, network string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), "listener-"+network)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if ln.Addr().Network() != network {
		ln.Close()
		return nil, fmt.Errorf("descriptor %d is not a %s listener", fd, network)
	}
	return ln, nil
}
