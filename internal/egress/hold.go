package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/moatsh/moat/internal/proxy"
)

// Where the agent and its proxy have no shared directory (on Kubernetes,
// they run in two pods), the proxy listens on a TCP address and the relay
// forwards the agent's connections to it (Forward), instead of handing the
// agent's port over a unix socket. The cluster adapter sets these in the
// two containers' environments.
const (
	// ListenEnv, in the proxy's environment, is the TCP address it
	// listens on ("0.0.0.0:3128"); see ServeTCP.
	ListenEnv = "MOAT_PROXY_LISTEN"
	// ProxyAddrEnv, in the agent's environment, is the proxy's address
	// ("IP:PORT") the relay forwards to, or an absolute path to a file
	// that will hold it (ProxyAddress): the adapter can start the agent's
	// pod before the proxy's has an address. The relay's --socket is
	// then unused.
	ProxyAddrEnv = "MOAT_PROXY_ADDR"
)

// holdPath, under AttestHost, is where the relay opens its hold
// connection: a GET with the run's token, which the proxy answers with
// 200 and then keeps open, counting it as the agent while it lasts. It
// is the TCP mode's counterpart of the connection a relay hands its port
// over (acceptAgents).
const holdPath = "/v1/hold"

// keepAlive probes an idle hold (or forwarded) connection, at both ends,
// so that a peer that vanished without closing it (its pod deleted, its
// node gone) is noticed within about ten seconds rather than never.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 3 * time.Second, Interval: 2 * time.Second, Count: 3}

// ServeTCP is Serve for a proxy that listens on the TCP address addr
// (ListenEnv) rather than taking the agent's port on cfg.Socket. The
// agent is there while a hold connection is open (holdPath): the proxy
// stops by itself once the last one has closed, or if none came within
// agentGrace, and creates cfg.AgentSeen when the first one comes. The
// ready line names the address it listens on.
func ServeTCP(ctx context.Context, cfg *Config, addr string, out io.Writer, logf func(string, ...any)) error {
	if len(cfg.Ports) > 0 {
		return errors.New("published ports are not available where the proxy runs apart from the agent (on a cluster)")
	}
	return runProxy(ctx, cfg, out, logf, listenTCP(addr, cfg.AgentSeen, agentGrace, logf))
}

// listenTCP is ServeTCP's agentListener, with the grace for the first
// hold as a parameter (tests shorten it).
func listenTCP(addr, seenFile string, grace time.Duration, logf func(string, ...any)) agentListener {
	return func(srv *proxy.Server, serve func(net.Listener), gone func()) (string, io.Closer, error) {
		lc := net.ListenConfig{KeepAliveConfig: keepAlive}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return "", nil, fmt.Errorf("listening on %s (%s): %w", addr, ListenEnv, err)
		}
		h := &holdEndpoint{next: srv.Local, agents: watchAgents(seenFile, grace, gone, logf), ln: ln}
		srv.Local = h
		serve(ln)
		return ln.Addr().String(), h, nil
	}
}

// holdEndpoint serves holdPath, after the proxy's token check, and hands
// every other request to the proxy's own local endpoint (the
// attestation's). Close stops it: it closes the listener and the holds.
type holdEndpoint struct {
	next   http.Handler
	agents *agentWatch
	ln     net.Listener
	held   hijacked
}

func (h *holdEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != holdPath {
		h.next.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "moat proxy: a hold is a GET", http.StatusMethodNotAllowed)
		return
	}
	// Taken from the HTTP server: whatever the relay sends after its
	// request is discarded, not read as another one, so only its close
	// (or its vanishing, which keepalive notices) ends the hold.
	c, rw, ok := h.held.take(w, "moat proxy: cannot hold this connection")
	if !ok {
		return
	}
	h.agents.arrive() // before the 200: once the relay has it, the proxy counts it
	rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
	rw.Flush()
	io.Copy(io.Discard, rw)
	if h.held.release(c) { // holds closed by Close are not the agent leaving
		h.agents.leave()
	}
}

// Close closes the listener and every hold, which tells each relay that
// the proxy is gone. It is idempotent.
func (h *holdEndpoint) Close() error {
	h.held.close()
	h.agents.stop()
	h.ln.Close()
	return nil
}
