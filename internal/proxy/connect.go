package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

const connectOK = "HTTP/1.1 200 Connection established\r\n\r\n"

// serveConnect handles an authorized CONNECT: refused by the policy,
// tunnelled blind if the policy says the host is tunnel-only, or else
// opened: TLS is intercepted (see open).
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, port, err := splitAuthority(r.Host, 443)
	if err != nil {
		http.Error(w, "moat proxy: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, "moat proxy: shutting down", http.StatusServiceUnavailable)
		return
	}
	t := target{scheme: "https", host: host, port: port}
	ev := Event{Time: time.Now(), Method: http.MethodConnect, Host: t.authority()}
	if d := s.checkHost(host, port); !d.Allowed {
		writeDeny(w, d)
		ev.Status, ev.Decision, ev.Duration = policy.DenyStatus, denyDecision(d), time.Since(ev.Time)
		s.emit(ev)
		return
	}
	ev.Decision = "allow"
	granted := s.Credentials != nil && s.Credentials.Intercept(t.authority())
	switch {
	case s.Leaves == nil && granted:
		s.logf("moat proxy: CONNECT %s: interception needs Leaves", ev.Host)
		http.Error(w, "moat proxy: cannot intercept "+ev.Host, http.StatusInternalServerError)
		ev.Status, ev.Err = http.StatusInternalServerError, "no Leaves to intercept with"
		s.emit(ev)
	case s.Leaves == nil || (!granted && s.tunnelOnly(t)):
		s.tunnel(w, r, t, ev)
	default:
		s.open(w, r, t, ev, granted)
	}
}

// tunnelOnly reports whether the policy declares t's host tunnel-only.
func (s *Server) tunnelOnly(t target) bool {
	return s.Policy != nil && s.Policy.TunnelOnly(t.host, t.port)
}

// tunnel dials the checked destination, answers 200 and copies bytes both
// ways until both sides are done, then records one Event. It sees nothing
// inside TLS: only the ClientHello's server name is checked.
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, t target, ev Event) {
	ev.Scheme = "tunnel"
	upstream, client, ok := s.dialAndHijack(w, r, t, ev)
	if !ok {
		return
	}
	// The server may speak first (SSH, SMTP): its half starts at once.
	s.relay(client, upstream, t, ev, nil, func() firstBytes { return readHello(client) })
}

// dialAndHijack dials t, refusing the CONNECT if that fails, then takes
// over the agent's connection.
func (s *Server) dialAndHijack(w http.ResponseWriter, r *http.Request, t target, ev Event) (upstream, client net.Conn, ok bool) {
	upstream, err := s.dialChecked(r.Context(), "tcp", net.JoinHostPort(t.host, strconv.Itoa(t.port)))
	if err != nil {
		s.refuseConnect(w, ev, err)
		return nil, nil, false
	}
	if s.WatchTunnel != nil {
		upstream = s.WatchTunnel(t.host, t.port, upstream)
	}
	if client, ok = s.hijackConnect(w, ev); !ok {
		upstream.Close()
	}
	return upstream, client, ok
}

// hijackConnect takes over the agent's connection and answers 200. The
// connection is tracked; relay and intercept untrack it.
func (s *Server) hijackConnect(w http.ResponseWriter, ev Event) (net.Conn, bool) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.logf("moat proxy: CONNECT %s: %v", ev.Host, err)
		http.Error(w, "moat proxy: cannot tunnel", http.StatusInternalServerError)
		return nil, false
	}
	if !s.track(conn) {
		conn.Close()
		return nil, false
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, connectOK); err != nil {
		conn.Close()
		s.untrack(conn)
		return nil, false
	}
	return &trackedConn{Conn: bufferedConn(uncorked(conn), brw), raw: conn}, true
}

// trackedConn is a hijacked CONNECT connection (read through whatever the
// server had buffered); raw is what track recorded.
type trackedConn struct {
	net.Conn
	raw net.Conn
}

func (c *trackedConn) CloseWrite() error { return closeWrite(c.Conn) }

// relay copies a blind tunnel's bytes both ways until both halves end,
// then records its Event. serverFirst, if not nil, gives what a read of
// upstream already in progress returns, and nextHello the agent's first
// bytes (each side has one reader at a time).
// What the agent sends is checked: a TLS ClientHello must name t's host
// (checkServerName); any other protocol is plain text, and the guard
// refuses it if it carries one of the run's placeholders or secrets.
func (s *Server) relay(client, upstream net.Conn, t target, ev Event, serverFirst func() []byte, nextHello func() firstBytes) {
	tc := client.(*trackedConn)
	defer s.untrack(tc.raw)
	client = tc.Conn // a bare TCP connection splices
	ev.Scheme = "tunnel"
	ev.Status = http.StatusOK
	var wg sync.WaitGroup
	wg.Go(func() {
		var first []byte
		if serverFirst != nil {
			first = serverFirst()
		}
		if len(first) > 0 {
			if _, err := client.Write(first); err != nil {
				client.Close()
				upstream.Close()
				return
			}
		}
		ev.BytesIn = int64(len(first)) + copyHalf(client, upstream)
	})
	hello := nextHello()
	refuse := func(err error) {
		client.Close()
		upstream.Close()
		wg.Wait()
		ev.Decision, ev.Err = denyDecision(policy.Decision{Rule: err.Error()}), err.Error()
		s.logf("moat proxy: CONNECT %s: refused: %v", ev.Host, err)
	}
	dst := upstream
	var g *streamGuard
	if !hello.isTLS {
		g = s.newStreamGuard(upstream, t)
		if g != nil {
			dst = g
		}
	}
	if err := checkServerName(t.host, t.port, hello.sni, hello.isTLS, hello.err); err != nil {
		refuse(err)
	} else if _, err := dst.Write(hello.raw); err != nil {
		if g != nil && g.refusal != nil {
			refuse(g.refusal)
		} else {
			client.Close()
			upstream.Close()
			wg.Wait()
		}
	} else {
		ev.BytesOut = int64(len(hello.raw)) + copyHalf(dst, client)
		wg.Wait()
		client.Close()
		upstream.Close()
		if g != nil && g.refusal != nil {
			ev.Decision, ev.Err = denyDecision(policy.Decision{Rule: g.refusal.Error()}), g.refusal.Error()
			s.logf("moat proxy: CONNECT %s: refused: %v", ev.Host, g.refusal)
		}
	}
	ev.Duration = time.Since(ev.Time)
	s.emit(ev)
}

// firstBytes is what the agent sent first, as readClientHello read it.
type firstBytes struct {
	raw   []byte
	sni   string
	isTLS bool
	err   error
}

func readHello(c net.Conn) firstBytes {
	raw, sni, isTLS, err := readClientHello(c)
	return firstBytes{raw, sni, isTLS, err}
}

// open serves an allowed CONNECT that is not tunnel-only: TLS is
// intercepted, so every request inside is seen, checked and recorded;
// anything else is relayed as a blind tunnel with its bytes checked by the
// guard, except to a grant's host (granted), whose credential could then
// not be put on the wire: that is refused.
//
// On port 443 the agent speaks first (TLS, the only protocol allowed
// there), so the proxy reads the ClientHello before dialing: an
// intercepted connection is dialed per request by the transport. On
// other ports the server may speak first (SSH, SMTP): the proxy dials at
// once and takes whichever side speaks first, which tells the protocol.
func (s *Server) open(w http.ResponseWriter, r *http.Request, t target, ev Event, granted bool) {
	if t.port == 443 {
		client, ok := s.hijackConnect(w, ev)
		if !ok {
			return
		}
		h := readHello(client)
		switch {
		case !h.isTLS:
			s.refuseOpened(client, ev, errors.New("the tunnel to port 443 did not start with a TLS ClientHello"))
		case h.err != nil:
			s.refuseOpened(client, ev, fmt.Errorf("reading the TLS ClientHello: %w", h.err))
		default:
			s.intercept(client, t, ev, h.raw) // the handshake checks the server name
		}
		return
	}
	upstream, client, ok := s.dialAndHijack(w, r, t, ev)
	if !ok {
		return
	}
	helloCh := make(chan firstBytes, 1)
	go func() { helloCh <- readHello(client) }()
	serverCh := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 4096)
		n, _ := upstream.Read(buf)
		serverCh <- buf[:n]
	}()
	select {
	case h := <-helloCh:
		if h.isTLS && h.err != nil {
			upstream.Close()
			<-serverCh
			s.refuseOpened(client, ev, fmt.Errorf("reading the TLS ClientHello: %w", h.err))
			return
		}
		if h.isTLS {
			// The agent speaks TLS, and sees what the server does: the
			// proxy sends the server the agent's ClientHello and reads
			// its answer. A TLS server's is a handshake record: that
			// connection is dropped (the transport dials per request) and
			// the agent's TLS intercepted. Anything else (a registry on
			// plain HTTP, which clients try TLS on first, answers 400)
			// goes back to the agent through a blind tunnel, so the
			// client sees what it would directly (Go's "server gave HTTP
			// response to HTTPS client", on which it falls back to HTTP)
			// rather than a 502 inside a handshake that worked.
			_ = upstream.SetReadDeadline(time.Now())
			first := <-serverCh
			_ = upstream.SetReadDeadline(time.Time{})
			if len(first) == 0 {
				first = answerTo(upstream, h.raw)
				if len(first) > 0 && first[0] == recordHandshake {
					upstream.Close()
					s.intercept(client, t, ev, h.raw)
					return
				}
				h.raw = nil // already sent
			}
			if granted {
				upstream.Close()
				s.refuseOpened(client, ev, mustOpen(ev.Host, "its server does not speak TLS"))
				return
			}
			s.relay(client, upstream, t, ev, func() []byte { return first }, func() firstBytes { return firstBytes{raw: h.raw} })
			return
		}
		if granted {
			upstream.Close()
			<-serverCh
			s.refuseOpened(client, ev, mustOpen(ev.Host, "the connection did not start with TLS"))
			return
		}
		s.relay(client, upstream, t, ev, func() []byte { return <-serverCh }, func() firstBytes { return h })
	case first := <-serverCh:
		if granted {
			upstream.Close()
			client.Close()
			<-helloCh
			s.refuseOpened(client, ev, mustOpen(ev.Host, "its server spoke first, so the connection is not TLS"))
			return
		}
		s.relay(client, upstream, t, ev, func() []byte { return first }, func() firstBytes { return <-helloCh })
	}
}

// mustOpen is why a connection to host, which the proxy must open (a
// grant's credential or network.allow's request rules apply there), is
// refused.
func mustOpen(host, why string) error {
	return fmt.Errorf("%s must be opened (a grant's credential or network.allow's request rules apply there), and %s", host, why)
}

// answerTo sends hello to upstream and returns the first bytes it answers
// with, within handshakeTimeout; none if it closed or said nothing.
func answerTo(upstream net.Conn, hello []byte) []byte {
	if _, err := upstream.Write(hello); err != nil {
		return nil
	}
	_ = upstream.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer upstream.SetReadDeadline(time.Time{})
	buf := make([]byte, 4096)
	n, _ := upstream.Read(buf)
	return buf[:n]
}

// refuseOpened ends an opened CONNECT that may not go on, and records why.
func (s *Server) refuseOpened(client net.Conn, ev Event, err error) {
	client.Close()
	s.untrack(client.(*trackedConn).raw)
	ev.Status = http.StatusOK
	ev.Decision, ev.Err = denyDecision(policy.Decision{Rule: err.Error()}), err.Error()
	ev.Duration = time.Since(ev.Time)
	s.logf("moat proxy: CONNECT %s: refused: %v", ev.Host, err)
	s.emit(ev)
}

// refuseConnect answers a CONNECT whose dial failed or was refused.
func (s *Server) refuseConnect(w http.ResponseWriter, ev Event, err error) {
	var blocked *blockedError
	if errors.As(err, &blocked) {
		writeDeny(w, blocked.d)
		ev.Status, ev.Decision = policy.DenyStatus, denyDecision(blocked.d)
	} else {
		s.logf("moat proxy: CONNECT %s: %v", ev.Host, err)
		http.Error(w, "moat proxy: could not reach "+ev.Host+": "+err.Error(), http.StatusBadGateway)
		ev.Status, ev.Err = http.StatusBadGateway, err.Error()
	}
	ev.Duration = time.Since(ev.Time)
	s.emit(ev)
}

// intercept completes a TLS handshake with the agent as t's host (with a
// leaf from Leaves) on client, an answered CONNECT whose first bytes
// (the ClientHello) were already read, and hands the connection to the
// inner server, which forwards each request to t.
func (s *Server) intercept(client net.Conn, t target, ev Event, first []byte) {
	tc := client.(*trackedConn)
	fail := func(err error) {
		client.Close()
		s.untrack(tc.raw)
		ev.Status, ev.Err, ev.Duration = http.StatusOK, err.Error(), time.Since(ev.Time)
		s.emit(ev)
	}
	cork := &corkConn{Conn: &replayConn{Conn: tc.Conn, first: first}}
	tlsConn := tls.Server(cork, &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName != "" {
				if sni, err := canonicalHost(hello.ServerName); err != nil || sni != t.host {
					return nil, fmt.Errorf("server name %q is not the CONNECT host %q", hello.ServerName, t.host)
				}
			}
			return s.Leaves.For(t.host)
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := tlsConn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		fail(fmt.Errorf("TLS handshake with the agent: %w", err))
		return
	}
	itc := &tunnelConn{Conn: tlsConn, target: t, cork: cork, done: func() {
		client.Close()
		s.untrack(tc.raw)
	}}
	if !s.innerLn.push(itc) {
		itc.Close()
	}
}

// replayConn reads first, then the connection.
type replayConn struct {
	net.Conn
	first []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *replayConn) CloseWrite() error { return closeWrite(c.Conn) }

// serveIntercepted forwards a request from inside an intercepted tunnel to
// the CONNECT host. A Host header naming another host is refused: the
// policy checked the CONNECT host, and the agent must not reach another
// virtual host on the same server through it.
func (s *Server) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	tc, _ := r.Context().Value(tunnelKey{}).(*tunnelConn)
	if tc == nil {
		http.Error(w, "moat proxy: not in a tunnel", http.StatusInternalServerError)
		return
	}
	t := tc.target
	if r.Host != "" {
		if h, p, err := splitAuthority(r.Host, 443); err != nil || h != t.host || p != t.port {
			http.Error(w, fmt.Sprintf("moat proxy: Host %q does not match the CONNECT host %q", r.Host, t.authority()), http.StatusMisdirectedRequest)
			s.emit(Event{Time: time.Now(), Method: r.Method, Scheme: "https", Host: t.authority(), Path: r.URL.Path,
				Status: http.StatusMisdirectedRequest, Decision: "allow", Err: "Host header does not match the CONNECT host"})
			return
		}
	}
	s.forward(w, r, t)
}

type tunnelKey struct{}

func tunnelContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tunnelConn); ok {
		return context.WithValue(context.WithValue(ctx, tunnelKey{}, tc), corkKey{}, tc.cork)
	}
	return ctx
}

// tunnelConn is an intercepted connection, after the handshake with the
// agent, as the inner server sees it.
type tunnelConn struct {
	net.Conn // the *tls.Conn
	target   target
	cork     *corkConn // under the TLS connection
	once     sync.Once
	done     func() // closes and untracks the hijacked connection
}

func (c *tunnelConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.done()
	})
	return err
}

// connListener hands intercepted connections to the inner http.Server.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return tunnelAddr{} }

// push hands c to the server, reporting false if the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "tunnel" }
func (tunnelAddr) String() string  { return "moat-intercepted" }

// bufferedConn returns conn, reading first whatever the agent sent after
// its CONNECT that the server had already buffered.
func bufferedConn(conn net.Conn, brw *bufio.ReadWriter) net.Conn {
	if brw == nil || brw.Reader.Buffered() == 0 {
		return conn
	}
	return &prefixConn{Conn: conn, r: brw.Reader}
}

type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *prefixConn) CloseWrite() error { return closeWrite(c.Conn) }

// closeWrite half-closes c if it can, else closes it.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// copyHalf copies src to dst. At src's end it half-closes dst so the far
// side sees EOF; on an error it closes both, ending the other half too.
func copyHalf(dst, src net.Conn) int64 {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(dst, src, *bp)
	if err == nil {
		_ = closeWrite(dst)
	} else {
		dst.Close()
		src.Close()
	}
	return n
}
