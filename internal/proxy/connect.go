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

// serveConnect handles an authorized CONNECT: refused by the policy, or
// intercepted if Credentials covers the host, or tunnelled blind.
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
	if s.Credentials != nil && s.Credentials.Intercept(t.authority()) {
		s.intercept(w, t, ev)
		return
	}
	s.tunnel(w, r, t, ev)
}

// tunnel dials the checked destination, answers 200 and copies bytes both
// ways until both sides are done, then records one Event.
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, t target, ev Event) {
	ev.Scheme = "tunnel"
	upstream, err := s.dialChecked(r.Context(), "tcp", net.JoinHostPort(t.host, strconv.Itoa(t.port)))
	if err != nil {
		s.refuseConnect(w, ev, err)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		upstream.Close()
		s.logf("moat proxy: CONNECT %s: %v", ev.Host, err)
		http.Error(w, "moat proxy: cannot tunnel", http.StatusInternalServerError)
		return
	}
	if !s.track(conn) {
		conn.Close()
		upstream.Close()
		return
	}
	defer s.untrack(conn)
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, connectOK); err != nil {
		conn.Close()
		upstream.Close()
		return
	}
	ev.Status = http.StatusOK
	client := bufferedConn(uncorked(conn), brw) // a bare TCP connection splices
	var wg sync.WaitGroup
	// The server may speak first (SSH, SMTP): its half starts at once.
	wg.Go(func() { ev.BytesIn = copyHalf(client, upstream) })
	first, sni, isTLS, err := readClientHello(client)
	if err := checkServerName(t.host, t.port, sni, isTLS, err); err != nil {
		conn.Close()
		upstream.Close()
		wg.Wait()
		ev.Decision, ev.Err = denyDecision(policy.Decision{Rule: err.Error()}), err.Error()
		s.logf("moat proxy: CONNECT %s: refused: %v", ev.Host, err)
	} else {
		if _, err := upstream.Write(first); err != nil {
			upstream.Close()
		}
		ev.BytesOut = int64(len(first)) + copyHalf(upstream, client)
		wg.Wait()
		conn.Close()
		upstream.Close()
	}
	ev.Duration = time.Since(ev.Time)
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

// intercept answers 200, completes a TLS handshake with the agent as t's
// host (with a leaf from Leaves), and hands the connection to the inner
// server, which forwards each request to t with credentials injected.
func (s *Server) intercept(w http.ResponseWriter, t target, ev Event) {
	if s.Leaves == nil {
		s.logf("moat proxy: CONNECT %s: interception needs Leaves", ev.Host)
		http.Error(w, "moat proxy: cannot intercept "+ev.Host, http.StatusInternalServerError)
		ev.Status, ev.Err = http.StatusInternalServerError, "no Leaves to intercept with"
		s.emit(ev)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.logf("moat proxy: CONNECT %s: %v", ev.Host, err)
		http.Error(w, "moat proxy: cannot tunnel", http.StatusInternalServerError)
		return
	}
	if !s.track(conn) {
		conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	fail := func(err error) {
		conn.Close()
		s.untrack(conn)
		ev.Status, ev.Err, ev.Duration = http.StatusOK, err.Error(), time.Since(ev.Time)
		s.emit(ev)
	}
	if _, err := io.WriteString(conn, connectOK); err != nil {
		fail(err)
		return
	}
	cork := &corkConn{Conn: bufferedConn(uncorked(conn), brw)}
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
	err = tlsConn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		fail(fmt.Errorf("TLS handshake with the agent: %w", err))
		return
	}
	tc := &tunnelConn{Conn: tlsConn, target: t, cork: cork, done: func() {
		conn.Close()
		s.untrack(conn)
	}}
	if !s.innerLn.push(tc) {
		tc.Close()
	}
}

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
