package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

const (
	testToken  = "run-token-123"
	testSecret = "ghp_REALSECRETVALUE"
)

// testCreds injects Authorization for the hosts it holds, as grant "github".
type testCreds struct{ hosts map[string]bool }

func (c testCreds) Apply(host string, r *http.Request) (Applied, bool, error) {
	if !c.hosts[hostOnly(host)] {
		return Applied{}, false, nil
	}
	r.Header.Set("Authorization", "Bearer "+testSecret)
	return Applied{Grant: "github", Secrets: []string{testSecret}}, true, nil
}

func (c testCreds) Intercept(host string) bool { return c.hosts[hostOnly(host)] }

func (testCreds) Secrets() []Sensitive {
	return []Sensitive{{Value: testSecret, What: `grant "github"`}}
}

// hostOnly drops the port the proxy passes for the test servers' ports.
func hostOnly(authority string) string {
	if h, _, err := net.SplitHostPort(authority); err == nil {
		return h
	}
	return authority
}

type testEnv struct {
	srv    *Server
	addr   string // where srv serves, through Serve, as in a run
	writes *countingListener
	events chan Event
	roots  *x509.CertPool // trusts the moat CA
}

type envOpts struct {
	policy   *policy.Policy
	creds    Credentials
	upstream *httptest.Server      // trusted by the proxy
	resolve  map[string]netip.Addr // names besides example.com
}

// examplePolicy allows example.com (mapped to 127.0.0.1, where httptest
// servers listen) in strict mode.
func examplePolicy(t testing.TB, allow ...string) *policy.Policy {
	t.Helper()
	p, err := policy.New(policy.Strict, allow, map[string]string{"example.com": "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newEnv(t testing.TB, o envOpts) *testEnv {
	t.Helper()
	ca, err := LoadOrCreateCA(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	upstreamRoots := x509.NewCertPool()
	if o.upstream != nil && o.upstream.TLS != nil {
		upstreamRoots.AddCert(o.upstream.Certificate())
	}
	e := &testEnv{events: make(chan Event, 1000), roots: roots}
	e.srv = &Server{
		Token:       testToken,
		Policy:      o.policy,
		Credentials: o.creds,
		Leaves:      NewLeaves(ca, nil),
		UpstreamTLS: &tls.Config{RootCAs: upstreamRoots},
		Resolver: func(ctx context.Context, host string) ([]netip.Addr, error) {
			if a, ok := o.resolve[host]; ok {
				return []netip.Addr{a}, nil
			}
			if host == "example.com" {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}
			return nil, fmt.Errorf("no such host %q", host)
		},
		OnEvent: func(ev Event) {
			select {
			case e.events <- ev:
			default:
			}
		},
		Logf: t.Logf,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr, e.writes = ln.Addr().String(), &countingListener{Listener: ln}
	go e.srv.Serve(e.writes)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	})
	return e
}

// countingListener counts the writes to the connections it accepted: what
// reaches the agent's socket, one system call each.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

func (e *testEnv) proxyURL(token string) *url.URL {
	u := &url.URL{Scheme: "http", Host: e.addr}
	if token != "" {
		u.User = url.UserPassword("agent", token)
	}
	return u
}

// client is the agent's client: through the proxy, trusting the moat CA
// (and extra, if given).
func (e *testEnv) client(t testing.TB, token string, extra ...*x509.Certificate) *http.Client {
	roots := e.roots.Clone()
	for _, c := range extra {
		roots.AddCert(c)
	}
	tr := &http.Transport{
		Proxy:           http.ProxyURL(e.proxyURL(token)),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (e *testEnv) event(t testing.TB) Event {
	t.Helper()
	select {
	case ev := <-e.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return Event{}
	}
}

// exampleURL names u's server as example.com.
func exampleURL(t testing.TB, ts *httptest.Server, path string) string {
	t.Helper()
	u, _ := url.Parse(ts.URL)
	return u.Scheme + "://example.com:" + u.Port() + path
}

func examplePort(ts *httptest.Server) string {
	u, _ := url.Parse(ts.URL)
	return u.Port()
}

// rawConnect sends a CONNECT for target by hand and returns the response
// and the connection.
func (e *testEnv) rawConnect(t testing.TB, target, token string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	auth := ""
	if token != "" {
		auth = "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("agent:"+token)) + "\r\n"
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target, auth)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	return res, conn, br
}

// echoHeaders is an upstream that reports what it saw, with the secret
// written as "<secret>" (the proxy cuts off a response that carries it).
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	auth := strings.ReplaceAll(r.Header.Get("Authorization"), testSecret, "<secret>")
	fmt.Fprintf(w, "proto=%s auth=%s proxyauth=%s host=%s path=%s",
		r.Proto, auth, r.Header.Get("Proxy-Authorization"), r.Host, r.URL.Path)
}

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	var hits sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Store(r.URL.Path, true) }))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{})
	for _, token := range []string{"", "wrong"} {
		res, err := e.client(t, token).Get(up.URL + "/plain")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusProxyAuthRequired || !strings.HasPrefix(res.Header.Get("Proxy-Authenticate"), "Basic") {
			t.Errorf("token %q: got %d %q, want 407 with Proxy-Authenticate Basic", token, res.StatusCode, res.Header.Get("Proxy-Authenticate"))
		}
		res, _, _ = e.rawConnect(t, strings.TrimPrefix(up.URL, "http://"), token)
		if res.StatusCode != http.StatusProxyAuthRequired {
			t.Errorf("token %q: CONNECT got %d, want 407", token, res.StatusCode)
		}
	}
	if _, ok := hits.Load("/plain"); ok {
		t.Error("an unauthorized request reached the upstream")
	}
	empty := &Server{}
	rec := httptest.NewRecorder()
	empty.ServeHTTP(rec, httptest.NewRequest("GET", "http://x/", nil))
	if rec.Code != http.StatusProxyAuthRequired {
		t.Errorf("empty Token: got %d, want 407", rec.Code)
	}
	empty.Close()
}

// TestHTTPForwardNeverInjects checks that plain http:// requests are
// forwarded without credentials, which would cross the network in clear.
func TestHTTPForwardNeverInjects(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(echoHeaders))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}})
	req, _ := http.NewRequest("GET", exampleURL(t, up, "/repos/x?token=q"), nil)
	req.Header.Set("Authorization", "Bearer agent-placeholder")
	res, err := e.client(t, testToken).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	got := string(body)
	if strings.Contains(got, testSecret) || !strings.Contains(got, "auth=Bearer agent-placeholder ") {
		t.Errorf("upstream saw %q, want the agent's own header and no credential", got)
	}
	if !strings.Contains(got, "proxyauth= ") || strings.Contains(got, testToken) {
		t.Errorf("upstream saw %q: the proxy token was forwarded", got)
	}
	ev := e.event(t)
	want := Event{Method: "GET", Scheme: "http", Host: "example.com:" + examplePort(up), Path: "/repos/x",
		Status: 200, Decision: "allow", BytesIn: int64(len(body))}
	checkEvent(t, ev, want)
}

func checkEvent(t *testing.T, ev, want Event) {
	t.Helper()
	if strings.Contains(fmt.Sprintf("%+v", ev), testSecret) {
		t.Errorf("event holds the secret: %+v", ev)
	}
	if ev.Time.IsZero() || ev.Duration <= 0 {
		t.Errorf("event has no time or duration: %+v", ev)
	}
	ev.Time, ev.Duration = time.Time{}, 0
	if want.BytesIn < 0 {
		ev.BytesIn, want.BytesIn = 0, 0
	}
	if ev != want {
		t.Errorf("event:\ngot  %+v\nwant %+v", ev, want)
	}
}

func TestConnectIntercepted(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			t.Parallel()
			up := httptest.NewUnstartedServer(http.HandlerFunc(echoHeaders))
			up.EnableHTTP2 = h2
			up.StartTLS()
			t.Cleanup(up.Close)
			e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
			c := e.client(t, testToken) // trusts only the moat CA
			for i := range 3 {          // keep-alive through one tunnel
				req, _ := http.NewRequest("GET", exampleURL(t, up, fmt.Sprintf("/r%d?q=1", i)), nil)
				req.Header.Set("Authorization", "Bearer agent-placeholder")
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				wantProto := "HTTP/1.1"
				if h2 {
					wantProto = "HTTP/2.0"
				}
				if got := string(body); !strings.Contains(got, "proto="+wantProto) || !strings.Contains(got, "auth=Bearer <secret> ") {
					t.Errorf("upstream saw %q, want %s and the injected Authorization", got, wantProto)
				}
				if res.TLS == nil || !strings.HasPrefix(res.TLS.PeerCertificates[0].Issuer.CommonName, "moat local CA") {
					t.Errorf("agent did not see a moat leaf: %+v", res.TLS)
				}
				checkEvent(t, e.event(t), Event{Method: "GET", Scheme: "https", Host: "example.com:" + examplePort(up),
					Path: fmt.Sprintf("/r%d", i), Status: 200, Grant: "github", Decision: "allow", BytesIn: int64(len(body))})
			}
		})
	}
}

func TestConnectRefusesOtherSNIAndHost(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(echoHeaders))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
	target := "example.com:" + examplePort(up)

	res, conn, _ := e.rawConnect(t, target, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "other.example.com", RootCAs: e.roots})
	if err := tc.Handshake(); err == nil {
		t.Fatal("handshake with another SNI succeeded")
	}
	if ev := e.event(t); ev.Method != "CONNECT" || !strings.Contains(ev.Err, "is not the CONNECT host") {
		t.Errorf("got event %+v, want a CONNECT with the SNI error", ev)
	}

	res, conn, _ = e.rawConnect(t, target, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	tc = tls.Client(conn, &tls.Config{ServerName: "example.com", RootCAs: e.roots})
	fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: other.example.com\r\n\r\n")
	r2, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host other than the CONNECT host: got %d, want 421", r2.StatusCode)
	}
}

// TestConnectBlindTunnel: a tunnel-only host's TLS goes through unopened.
func TestConnectBlindTunnel(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(echoHeaders))
	t.Cleanup(up.Close)
	pol := examplePolicy(t)
	if err := pol.SetTunnelOnly([]string{"example.com"}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{policy: pol, creds: testCreds{map[string]bool{"api.github.com": true}}})
	c := e.client(t, testToken, up.Certificate())
	res, err := c.Get(exampleURL(t, up, "/x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !res.TLS.PeerCertificates[0].Equal(up.Certificate()) {
		t.Errorf("agent saw %q, want the upstream's own certificate", res.TLS.PeerCertificates[0].Subject)
	}
	if strings.Contains(string(body), testSecret) {
		t.Errorf("a blind tunnel injected credentials: %q", body)
	}
	c.Transport.(*http.Transport).CloseIdleConnections() // ends the tunnel
	ev := e.event(t)
	if ev.Method != "CONNECT" || ev.Scheme != "tunnel" || ev.Status != 200 || ev.Decision != "allow" ||
		ev.Host != "example.com:"+examplePort(up) || ev.BytesIn <= int64(len(body)) || ev.BytesOut == 0 {
		t.Errorf("tunnel event %+v", ev)
	}
}

func TestPolicyDenies(t *testing.T) {
	t.Parallel()
	var hit sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store("x", true) }))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), resolve: map[string]netip.Addr{"blocked.org": netip.MustParseAddr("127.0.0.1")}})
	port := examplePort(up)

	res, err := e.client(t, testToken).Get("http://blocked.org:" + port + "/a?b")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	checkDeny(t, "plain HTTP", res, string(body))
	ev := e.event(t)
	wantDecision := `deny: "blocked.org" is not in network.allow (network.policy "strict")`
	checkEvent(t, ev, Event{Method: "GET", Scheme: "http", Host: "blocked.org:" + port, Path: "/a", Status: 403, Decision: wantDecision, BytesIn: -1})

	res, _, br := e.rawConnect(t, "blocked.org:"+port, testToken)
	body, _ = io.ReadAll(io.LimitReader(br, res.ContentLength))
	checkDeny(t, "CONNECT", res, string(body))
	checkEvent(t, e.event(t), Event{Method: "CONNECT", Host: "blocked.org:" + port, Status: 403, Decision: wantDecision})
	if _, ok := hit.Load("x"); ok {
		t.Error("a denied request reached the upstream")
	}
}

func checkDeny(t *testing.T, what string, res *http.Response, body string) {
	t.Helper()
	if res.StatusCode != policy.DenyStatus || !strings.Contains(res.Header.Get(policy.HeaderName), "blocked.org") ||
		!strings.Contains(body, "moat blocked this request") || !strings.Contains(body, "To allow it") {
		t.Errorf("%s: got %d %s=%q body %q, want a deny", what, res.StatusCode, policy.HeaderName, res.Header.Get(policy.HeaderName), body)
	}
}

func TestPrivateDestinationRechecked(t *testing.T) {
	t.Parallel()
	var hit sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store("x", true) }))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{
		policy: examplePolicy(t, "rebind.org", "metadata.org"),
		resolve: map[string]netip.Addr{
			"rebind.org":   netip.MustParseAddr("127.0.0.1"),
			"metadata.org": netip.MustParseAddr("169.254.169.254"),
		},
	})
	port := examplePort(up)
	for _, host := range []string{"rebind.org", "metadata.org"} {
		res, err := e.client(t, testToken).Get("http://" + host + ":" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != policy.DenyStatus || !strings.Contains(res.Header.Get(policy.HeaderName), "resolves to") {
			t.Errorf("%s plain: got %d %q %q, want a private-address deny", host, res.StatusCode, res.Header.Get(policy.HeaderName), body)
		}
		if ev := e.event(t); ev.Status != 403 || !strings.HasPrefix(ev.Decision, "deny: \""+host+"\" resolves to") {
			t.Errorf("%s plain: event %+v", host, ev)
		}
		res, _, _ = e.rawConnect(t, host+":"+port, testToken)
		if res.StatusCode != policy.DenyStatus || !strings.Contains(res.Header.Get(policy.HeaderName), "resolves to") {
			t.Errorf("%s CONNECT: got %d %q, want a private-address deny", host, res.StatusCode, res.Header.Get(policy.HeaderName))
		}
		if ev := e.event(t); ev.Method != "CONNECT" || ev.Status != 403 || !strings.HasPrefix(ev.Decision, "deny: ") {
			t.Errorf("%s CONNECT: event %+v", host, ev)
		}
	}
	if _, ok := hit.Load("x"); ok {
		t.Error("a request to a private address reached the upstream")
	}
}
