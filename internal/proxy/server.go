package proxy

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

// Credentials is what the proxy needs from the credential store, for one
// run. Hosts are passed lower-case, without a trailing dot, with the port
// when it is not 443 ("api.example.com", "api.example.com:8443").
type Credentials interface {
	// Apply puts the credential for host on r, a request intercepted over
	// TLS as it will go upstream (URL and headers final, body unread). It
	// may set headers, replacing whatever the agent sent, and read r.Body
	// if it puts an equivalent body back (a signer hashes it). It reports
	// ok=false when no credential applies. An error fails the request
	// with 502; it must not contain a secret.
	Apply(host string, r *http.Request) (applied Applied, ok bool, err error)
	// Intercept reports whether a grant covers host, or network.allow
	// limits the methods or paths of its requests: its CONNECTs are
	// always intercepted, never tunnelled blind (a tunnel-only rule does
	// not apply), and one that does not speak TLS is refused, since the
	// credential could not be put on it or its requests checked.
	Intercept(host string) bool
	// Secrets returns the run's credentials as they are now, which no
	// request the agent sends may carry (the guard refuses it).
	Secrets() []Sensitive
}

// Applied says what Credentials.Apply put on a request.
type Applied struct {
	Grant string // the grant's name, for the request's Event
	// Secrets are the credentials the request now carries, in whatever
	// form. A response that would carry one back to the agent, as is,
	// URL-encoded or in base64, in a header or the body, is cut off and
	// recorded instead.
	Secrets []string
}

// closeWait bounds how long Close waits for tunnels to end once their
// connections are closed.
const closeWait = 5 * time.Second

// handshakeTimeout bounds the TLS handshake with the agent on an
// intercepted CONNECT.
const handshakeTimeout = 10 * time.Second

// Server is one run's egress proxy, an http.Handler to serve on the
// address the agent's HTTP_PROXY names. Set its fields before the first
// request and do not change them after; it is safe for concurrent use.
// Call Close when the run ends.
type Server struct {
	// Token is the per-run secret. Every request and CONNECT must carry
	// Proxy-Authorization: Basic with Token as the password (any user);
	// others get 407 with Proxy-Authenticate. An empty Token refuses all.
	Token string

	// Policy decides which hosts and addresses may be reached. Nil allows
	// everything, private addresses included (for tests only).
	Policy *policy.Policy

	// Credentials puts the credentials on requests to the grants' hosts.
	// Nil means no injection.
	Credentials Credentials

	// Placeholders are the fake credentials the run's agent holds; no
	// request may carry one upstream (see guard.go).
	Placeholders []Sensitive

	// GitPush, if set, is the refs a git push may update (network.git-push):
	// a push over HTTPS updating any other ref, or deleting one, is
	// refused (gitpush.go).
	GitPush *policy.RefRules

	// Leaves mints the certificates shown to the agent on intercepted
	// CONNECTs. Every CONNECT that speaks TLS is intercepted, unless the
	// policy declares its host tunnel-only; nil Leaves tunnels every host
	// blind (tests only) and refuses the grants' hosts.
	Leaves *Leaves

	// UpstreamTLS configures TLS to upstream servers (roots, mainly). It is
	// cloned; nil means the system roots.
	UpstreamTLS *tls.Config

	// Resolver resolves host names before every dial; each address is
	// re-checked with Policy.CheckAddr. Nil means net.DefaultResolver.
	Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

	// Dial connects to an already checked address ("ip:port"). Nil means a
	// net.Dialer with a 30-second timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// OnEvent is called once per request, per blind tunnel when it ends,
	// and per refused CONNECT. It must not block long. Nil drops events.
	OnEvent func(Event)

	// Logf logs proxy errors; it never sees credentials. Nil discards.
	Logf func(format string, args ...any)

	// WatchTunnel, if set, is given the upstream connection of every
	// tunnel (a CONNECT the proxy does not open), right after it is
	// dialed and before anything is read from it, and the tunnel uses the
	// connection it returns: the run's SSH agent learns from it which host
	// key the server presented (internal/sshwatch). host is as the CONNECT
	// named it, lower-cased.
	WatchTunnel func(host string, port int, upstream net.Conn) net.Conn

	// Local, if set, answers itself the plain HTTP requests to LocalHost
	// (any port) that carry the token: moat's own endpoints (the
	// start-time attestation's, internal/egress). They are never
	// forwarded, checked against Policy or made Events.
	Local     http.Handler
	LocalHost string

	needles sync.Map // secret -> its forms, for echoNeedles

	guardSets       sync.Map // secret -> *guardSet
	placeholderOnce sync.Once
	placeholders    []*guardSet

	initOnce  sync.Once
	transport *http.Transport
	rp        *httputil.ReverseProxy
	inner     *http.Server  // serves requests inside intercepted tunnels
	innerLn   *connListener // feeds inner
	outer     *http.Server  // serves the agent's connections (Serve)

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // hijacked CONNECT connections
	wg     sync.WaitGroup        // tunnels and the inner server
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		var tlsConf *tls.Config
		if s.UpstreamTLS != nil {
			tlsConf = s.UpstreamTLS.Clone()
		}
		s.transport = &http.Transport{
			DialContext:           s.dialChecked,
			TLSClientConfig:       tlsConf,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
		errLog := log.New(logWriter{s}, "", 0)
		s.rp = &httputil.ReverseProxy{
			Rewrite:        s.rewrite,
			Transport:      credentialCheck{s.transport},
			ModifyResponse: s.modifyResponse,
			ErrorHandler:   s.errorHandler,
			ErrorLog:       errLog,
			BufferPool:     bufferPool{},
			// Every write reaches the agent at once, as it came from
			// upstream; corking keeps that to one write to the socket.
			FlushInterval: -1,
		}
		s.conns = make(map[net.Conn]struct{})
		s.innerLn = newConnListener()
		s.inner = &http.Server{
			Handler:           http.HandlerFunc(s.serveIntercepted),
			ConnContext:       tunnelContext,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       5 * time.Minute,
			ErrorLog:          errLog,
		}
		s.wg.Go(func() { _ = s.inner.Serve(s.innerLn) })
		s.outer = &http.Server{
			Handler:           s,
			ConnContext:       corkContext,
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          errLog,
		}
	})
}

// Serve accepts the agent's connections on ln and serves them until
// Shutdown. It may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	return s.outer.Serve(corkListener{ln})
}

// Shutdown closes the tunnels (see Close), then lets requests in flight
// finish until ctx ends, and closes what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Close()
	if err := s.outer.Shutdown(ctx); err != nil {
		s.outer.Close()
		return err
	}
	return nil
}

// ServeHTTP handles one request from the agent: a CONNECT, or a plain HTTP
// request in absolute form.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	if !s.authorized(r) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="moat"`)
		http.Error(w, "moat proxy: missing or wrong proxy credentials", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		s.serveConnect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "moat proxy: send absolute http:// URLs, or CONNECT for https", http.StatusBadRequest)
		return
	}
	host, port, err := splitAuthority(r.URL.Host, 80)
	if err != nil {
		http.Error(w, "moat proxy: "+err.Error(), http.StatusBadRequest)
		return
	}
	if s.Local != nil && host == s.LocalHost {
		s.Local.ServeHTTP(w, r)
		return
	}
	s.forward(w, r, target{scheme: "http", host: host, port: port})
}

// authorized reports whether r carries Basic proxy credentials whose
// password is the token.
func (s *Server) authorized(r *http.Request) bool {
	if s.Token == "" {
		return false
	}
	scheme, cred, ok := strings.Cut(r.Header.Get("Proxy-Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	_, pass, ok := strings.Cut(string(raw), ":")
	return ok && subtle.ConstantTimeCompare([]byte(pass), []byte(s.Token)) == 1
}

// Close closes every hijacked CONNECT tunnel and the proxy's idle upstream
// connections, then waits (at most a few seconds) for tunnels to end.
// Later CONNECTs are refused. It is idempotent and returns nil.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	_ = s.inner.Close()
	s.transport.CloseIdleConnections()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		s.logf("moat proxy: tunnels still open %s after Close", closeWait)
	}
	return nil
}

// track records a hijacked connection so Close can close it, reporting
// false if the server is closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	_, ok := s.conns[c]
	delete(s.conns, c)
	s.mu.Unlock()
	if ok {
		s.wg.Done()
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Server) emit(e Event) {
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

// checkHost applies the policy before DNS; a nil policy allows all.
func (s *Server) checkHost(host string, port int) policy.Decision {
	if s.Policy == nil {
		return policy.Decision{Allowed: true, Rule: "no policy"}
	}
	return s.Policy.CheckHost(host, port)
}

// blockedError is a dial refused by Policy.CheckAddr.
type blockedError struct{ d policy.Decision }

func (e *blockedError) Error() string { return "moat proxy: blocked: " + e.d.Rule }

// dialChecked resolves addr's host, checks every address with
// Policy.CheckAddr and dials the first allowed one that answers.
func (s *Server) dialChecked(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("invalid port in %q", addr)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if s.Resolver != nil {
		addrs, err = s.Resolver(ctx, host)
		if err != nil {
			return nil, err
		}
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %q: no addresses", host)
	}
	dial := s.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	var denied *blockedError
	var lastErr error
	for _, a := range addrs {
		if s.Policy != nil {
			if d := s.Policy.CheckAddr(host, a, port); !d.Allowed {
				if denied == nil {
					denied = &blockedError{d}
				}
				continue
			}
		}
		c, err := dial(ctx, "tcp", netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err != nil {
			lastErr = err
			continue
		}
		// Both ends on one address: the host's own, which the policy
		// may not have known yet (a bridge created since it looked).
		if s.Policy != nil && sameAddress(c) {
			if d := s.Policy.CheckOwnAddr(host, a, port); !d.Allowed {
				c.Close()
				if denied == nil {
					denied = &blockedError{d}
				}
				continue
			}
		}
		return c, nil
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, denied
}

// sameAddress reports whether c's two ends have the same IP address, which
// only a connection to the host's own address has.
func sameAddress(c net.Conn) bool {
	l, ok1 := c.LocalAddr().(*net.TCPAddr)
	r, ok2 := c.RemoteAddr().(*net.TCPAddr)
	return ok1 && ok2 && l.IP.Equal(r.IP)
}

// writeDeny answers a request refused by the policy.
func writeDeny(w http.ResponseWriter, d policy.Decision) {
	writeDenyStatus(w, d, policy.DenyStatus)
}

// writeDenyStatus answers a refused request with status.
func writeDenyStatus(w http.ResponseWriter, d policy.Decision, status int) {
	h := w.Header()
	h.Set(policy.HeaderName, d.Header())
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, d.Body())
}

func denyDecision(d policy.Decision) string { return "deny: " + d.Rule }

// splitAuthority splits "host[:port]" into a canonical host (lower-case,
// no brackets or trailing dot) and a port, defaulting to def.
func splitAuthority(authority string, def int) (string, int, error) {
	host, port := authority, def
	if h, p, err := net.SplitHostPort(authority); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", 0, fmt.Errorf("invalid port in %q", authority)
		}
		host, port = h, n
	} else if strings.HasPrefix(authority, "[") && strings.HasSuffix(authority, "]") {
		host = authority[1 : len(authority)-1]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	if host == "" {
		return "", 0, fmt.Errorf("no host in %q", authority)
	}
	return host, port, nil
}

type logWriter struct{ s *Server }

func (l logWriter) Write(p []byte) (int, error) {
	l.s.logf("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// bufferPool lends ReverseProxy its 32 KiB copy buffers.
type bufferPool struct{}

func (bufferPool) Get() []byte  { return *bufPool.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { bufPool.Put(&b) }
