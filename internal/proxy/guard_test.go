package proxy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

const testPlaceholder = "ghp_moatplaceholder000000000000000000000"

// TestEveryHostIntercepted: a CONNECT to an allowed host no grant covers
// is intercepted: the agent sees moat's leaf, the request is recorded as
// itself (method, path, status), and nothing is injected.
func TestEveryHostIntercepted(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(echoHeaders))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"api.github.com": true}}, upstream: up})
	res, err := e.client(t, testToken).Get(exampleURL(t, up, "/seen"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.TLS.PeerCertificates[0].Equal(up.Certificate()) {
		t.Error("the agent saw the upstream's certificate: the tunnel was blind")
	}
	if !strings.Contains(string(body), "path=/seen") || strings.Contains(string(body), "<secret>") {
		t.Errorf("body %q", body)
	}
	checkEvent(t, e.event(t), Event{Method: "GET", Scheme: "https", Host: "example.com:" + examplePort(up), Path: "/seen", Status: 200, Decision: "allow", BytesIn: int64(len(body))})
}

// TestUntrustedUpstreamSaysWhatToDo: an intercepted upstream whose
// certificate the proxy does not trust fails with 502 naming the fixes.
func TestUntrustedUpstreamSaysWhatToDo(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(echoHeaders))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t)}) // the upstream is not trusted
	res, err := e.client(t, testToken).Get(exampleURL(t, up, "/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "network.ca") || !strings.Contains(string(body), "network.tunnel-only") {
		t.Errorf("got %d %q, want 502 naming network.ca and network.tunnel-only", res.StatusCode, body)
	}
}

// guardEnv is a proxy with one grant (api.github.com's Authorization),
// its placeholder, and an upstream that counts what reaches it.
type guardEnv struct {
	*testEnv
	up      *httptest.Server
	reached atomic.Int64
	mu      sync.Mutex
	got     [][]byte // request bodies that reached the upstream
}

func newGuardEnv(t *testing.T) *guardEnv {
	g := &guardEnv{}
	g.up = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.got = append(g.got, b)
		g.mu.Unlock()
		g.reached.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(g.up.Close)
	g.testEnv = newEnv(t, envOpts{
		policy:   examplePolicy(t),
		creds:    testCreds{map[string]bool{"example.com": true}},
		upstream: g.up,
	})
	g.srv.Placeholders = []Sensitive{{Value: testPlaceholder, What: `GH_TOKEN (grant "github")`}}
	return g
}

// TestGuardRefusesPlaceholdersAndSecrets sends the run's placeholder and
// its real credential in every place and form a request can hold them,
// to the grant's host, where injection replaces only the Authorization
// header: each is refused with 403 and X-Moat-Blocked, recorded, and
// never reaches the upstream. The placeholder in Authorization, where the
// proxy replaces it, goes through.
func TestGuardRefusesPlaceholdersAndSecrets(t *testing.T) {
	t.Parallel()
	g := newGuardEnv(t)
	c := g.client(t, testToken)
	base := exampleURL(t, g.up, "/")
	b64 := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + testPlaceholder))
	type req struct {
		name, method, url, body string
		header                  map[string]string
		want                    string // in X-Moat-Blocked; "" means allowed
	}
	for _, tt := range []req{
		{"placeholder where injected", "GET", base, "", map[string]string{"Authorization": "Bearer " + testPlaceholder}, ""},
		{"placeholder in another header", "GET", base, "", map[string]string{"X-Token": testPlaceholder}, "placeholder of GH_TOKEN"},
		{"placeholder in a header name", "GET", base, "", map[string]string{"X-" + testPlaceholder: "1"}, "header names"},
		{"placeholder in the query", "GET", base + "?token=" + testPlaceholder, "", nil, "in its URL"},
		{"placeholder in the path, escaped", "GET", base + url.PathEscape("a/"+testPlaceholder), "", nil, "in its URL"},
		{"placeholder in Basic auth", "GET", base, "", map[string]string{"Cookie": "s=" + b64}, "header Cookie"},
		{"placeholder in the body", "POST", base, `{"token":"` + testPlaceholder + `"}`, nil, "in its body"},
		{"placeholder URL-encoded in a form", "POST", base, "a=1&t=" + url.QueryEscape("x "+testPlaceholder), nil, "in its body"},
		{"secret in a header", "GET", base, "", map[string]string{"X-Key": testSecret}, `credential of grant "github"`},
		{"secret in the body, base64", "POST", base, base64.StdEncoding.EncodeToString([]byte("k=" + testSecret)), nil, `credential of grant "github"`},
		{"secret in the query", "GET", base + "?k=" + testSecret, "", nil, "in its URL"},
		{"secret in the path", "GET", base + "p/" + testSecret + "/x", "", nil, "in its URL"},
		{"clean request", "POST", base, "nothing to see", nil, ""},
	} {
		before := g.reached.Load()
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		r, _ := http.NewRequest(tt.method, tt.url, body)
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		res, err := c.Do(r)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resBody, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ev := g.event(t)
		if tt.want == "" {
			if res.StatusCode != 200 || g.reached.Load() != before+1 {
				t.Errorf("%s: %d %q, want it through", tt.name, res.StatusCode, resBody)
			}
			continue
		}
		blocked := res.Header.Get(policy.HeaderName)
		if res.StatusCode != policy.DenyStatus || !strings.Contains(blocked, tt.want) {
			t.Errorf("%s: %d %q (%s), want 403 with %q", tt.name, res.StatusCode, blocked, resBody, tt.want)
		}
		if g.reached.Load() != before {
			t.Errorf("%s: the request reached the upstream", tt.name)
		}
		if !strings.HasPrefix(ev.Decision, "deny: ") || !strings.Contains(ev.Decision, tt.want) {
			t.Errorf("%s: event %+v", tt.name, ev)
		}
		if strings.Contains(string(resBody), testSecret) || strings.Contains(blocked, testSecret) {
			t.Errorf("%s: the refusal quotes the secret", tt.name)
		}
		if strings.Contains(ev.Path, testSecret) || strings.Contains(ev.Path, testPlaceholder) || strings.Contains(ev.Path, url.PathEscape(testPlaceholder)) {
			t.Errorf("%s: the event records the value in its path: %q", tt.name, ev.Path)
		}
	}
}

// TestGuardLargeBody finds the placeholder at the seam between two reads
// of a large streamed body, and never sends its first bytes.
func TestGuardLargeBody(t *testing.T) {
	t.Parallel()
	g := newGuardEnv(t)
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte("a"), 100000))
		pw.Write([]byte(testPlaceholder[:10]))
		time.Sleep(10 * time.Millisecond) // the seam: two reads
		pw.Write([]byte(testPlaceholder[10:]))
		pw.Write(bytes.Repeat([]byte("b"), 1000))
		pw.Close()
	}()
	r, _ := http.NewRequest("POST", exampleURL(t, g.up, "/up"), pr)
	res, err := g.client(t, testToken).Do(r)
	if err == nil {
		res.Body.Close()
		if res.StatusCode != policy.DenyStatus {
			t.Errorf("got %d, want 403", res.StatusCode)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.got {
		if bytes.Contains(b, []byte(testPlaceholder[:10])) {
			t.Error("the placeholder's first bytes reached the upstream")
		}
	}
}

// TestGuardPlainHTTP: a plain http:// request is guarded like one inside
// TLS, though nothing is ever injected into it.
func TestGuardPlainHTTP(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t)})
	e.srv.Placeholders = []Sensitive{{Value: testPlaceholder, What: "GH_TOKEN"}}
	r, _ := http.NewRequest("GET", exampleURL(t, up, "/"), nil)
	r.Header.Set("Authorization", "token "+testPlaceholder)
	res, err := e.client(t, testToken).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != policy.DenyStatus || reached.Load() != 0 {
		t.Errorf("got %d, reached %d, want 403 and nothing sent", res.StatusCode, reached.Load())
	}
}

// plainServer is a server that speaks first (as SSH does), then echoes
// what it reads to its log.
func plainServer(t *testing.T) (port string, received func() []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var got []byte
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "SSH-2.0-test\r\n")
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					mu.Lock()
					got = append(got, buf[:n]...)
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return append([]byte(nil), got...)
	}
}

// TestPlainTunnelGuarded: a tunnel that is not TLS, to a server that
// speaks first, carries the agent's bytes unless they hold the run's
// placeholder, which ends the tunnel before any of it leaves.
func TestPlainTunnelGuarded(t *testing.T) {
	t.Parallel()
	port, received := plainServer(t)
	e := newEnv(t, envOpts{policy: examplePolicy(t)})
	e.srv.Placeholders = []Sensitive{{Value: testPlaceholder, What: "GH_TOKEN"}}

	res, conn, br := e.rawConnect(t, "example.com:"+port, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	banner, err := br.ReadString('\n')
	if err != nil || banner != "SSH-2.0-test\r\n" {
		t.Fatalf("banner %q, %v: the server's first words did not reach the agent", banner, err)
	}
	io.WriteString(conn, "hello\n")
	conn.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, br)
	if ev := e.event(t); ev.Scheme != "tunnel" || ev.Decision != "allow" {
		t.Errorf("clean tunnel: event %+v", ev)
	}
	if !bytes.Contains(received(), []byte("hello")) {
		t.Errorf("the server got %q", received())
	}

	res, conn, br = e.rawConnect(t, "example.com:"+port, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	br.ReadString('\n')
	io.WriteString(conn, "user "+testPlaceholder[:20])
	time.Sleep(20 * time.Millisecond)
	io.WriteString(conn, testPlaceholder[20:]+"\n")
	_, err = io.Copy(io.Discard, br)
	ev := e.event(t)
	if !strings.Contains(ev.Decision, "placeholder of GH_TOKEN in its tunnelled bytes") {
		t.Errorf("event %+v, want the guard's refusal (read: %v)", ev, err)
	}
	if bytes.Contains(received(), []byte(testPlaceholder[:20])) {
		t.Errorf("the placeholder's first bytes reached the server: %q", received())
	}
}

// TestGrantHostNeedsTLS: a grant's host whose connection is not TLS is
// refused: its credential could not be put on it.
func TestGrantHostNeedsTLS(t *testing.T) {
	t.Parallel()
	port, received := plainServer(t)
	e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}})
	res, _, br := e.rawConnect(t, "example.com:"+port, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	if b, _ := io.ReadAll(br); len(b) != 0 {
		t.Errorf("the agent got %q from a grant's host over plain text", b)
	}
	if ev := e.event(t); !strings.Contains(ev.Decision, "must be opened") {
		t.Errorf("event %+v", ev)
	}
	if len(received()) != 0 {
		t.Errorf("the server got %q", received())
	}
}

// TestTunnelOnlyPolicy: tunnel-only rules match names, wildcards, ports
// and addresses as allow rules do.
func TestTunnelOnlyPolicy(t *testing.T) {
	p := examplePolicy(t)
	if err := p.SetTunnelOnly([]string{"pinned.example", "*.pins.example", "port.example:8443", "10.1.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host string
		port int
		want bool
	}{
		{"pinned.example", 443, true}, {"PINNED.example.", 443, true}, {"a.pins.example", 443, true},
		{"pins.example", 443, false}, {"port.example", 8443, true}, {"port.example", 443, false},
		{"10.1.2.3", 443, true}, {"10.2.0.1", 443, false}, {"other.example", 443, false},
	} {
		if got := p.TunnelOnly(tt.host, tt.port); got != tt.want {
			t.Errorf("TunnelOnly(%s, %d) = %v", tt.host, tt.port, got)
		}
	}
	if err := p.SetTunnelOnly([]string{"https://x.example/"}); err == nil || !errors.Is(err, err) || !strings.Contains(err.Error(), "network.tunnel-only") {
		t.Errorf("a URL as a tunnel-only rule: %v", err)
	}
}
