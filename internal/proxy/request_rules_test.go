package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/moatsh/moat/internal/policy"
)

// ruledCreds intercepts the hosts whose rule has methods or paths, as the
// sidecar's credentials do, and injects nothing.
type ruledCreds struct{ p *policy.Policy }

func (ruledCreds) Apply(string, *http.Request) (Applied, bool, error) { return Applied{}, false, nil }

func (c ruledCreds) Intercept(host string) bool { return c.p.HasRequestRules(hostOnly(host), 0) }

func (ruledCreds) Secrets() []Sensitive { return nil }

// seenPaths is an upstream handler that records each request line it got.
type seenPaths struct {
	mu   sync.Mutex
	seen []string
}

func (s *seenPaths) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r.Method+" "+r.RequestURI)
	s.mu.Unlock()
	io.WriteString(w, "ok")
}

func (s *seenPaths) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func ruledPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p := examplePolicy(t, "example.com")
	req, err := policy.ParseRequests([]string{"GET"}, []string{"/ok/**"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	p.Allow[0].Requests = req
	return p
}

// TestRequestRulesInTunnel sends, pipelined on one intercepted connection,
// an allowed request and the ways around the rule an agent could try: each
// is refused with moat's deny, and only the allowed ones reach the server.
func TestRequestRulesInTunnel(t *testing.T) {
	t.Parallel()
	seen := &seenPaths{}
	up := httptest.NewTLSServer(seen)
	t.Cleanup(up.Close)
	p := ruledPolicy(t)
	// Request rules win over a tunnel-only rule: the host is intercepted.
	if err := p.SetTunnelOnly([]string{"example.com"}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{policy: p, creds: ruledCreds{p}, upstream: up})
	host := "example.com:" + examplePort(up)
	res, conn, _ := e.rawConnect(t, host, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "example.com", RootCAs: e.roots})
	requests := []struct {
		line, extra string
		status      int
	}{
		{"GET /ok/a", "", 200},
		{"GET /ok/../secret", "", 403},
		{"GET /ok/%2e%2e/secret", "", 403},
		{"GET /ok%2f..%2fsecret", "", 403},
		{"GET /ok/..;/secret", "", 403},
		{"GET //ok/a", "", 403},
		{"GET /secret", "", 403},
		{"POST /ok/a", "Content-Length: 0\r\n", 403},
		{"get /ok/a", "", 403},
		{"GET *", "", 403},
		// net/http answers OPTIONS * itself, with no handler and nothing
		// forwarded, and records no event.
		{"OPTIONS *", "", 200},
		{"GET https://" + host + "/secret", "", 403},
		{"GET /ok/b", "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", 403},
		{"GET /ok/c?x=/secret", "", 200},
	}
	var batch strings.Builder
	for _, r := range requests {
		fmt.Fprintf(&batch, "%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", r.line, host, r.extra)
	}
	if _, err := io.WriteString(tc, batch.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	for _, r := range requests {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", r.line, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != r.status {
			t.Errorf("%s: got %d %q, want %d", r.line, res.StatusCode, body, r.status)
		}
		if r.status == 403 && (res.Header.Get(policy.HeaderName) == "" || !strings.Contains(string(body), "agent.yaml line 4")) {
			t.Errorf("%s: deny without %s or the rule's line: %q", r.line, policy.HeaderName, body)
		}
	}
	want := []string{"GET /ok/a", "GET /ok/c?x=/secret"} // not OPTIONS *
	if got := seen.lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the server saw %q, want only %q", got, want)
	}
	var denied int
	for range len(requests) - 1 {
		if ev := e.event(t); strings.HasPrefix(ev.Decision, "deny: ") && ev.Status == 403 {
			denied++
		}
	}
	if denied != len(requests)-3 {
		t.Errorf("%d denials recorded, want %d", denied, len(requests)-3)
	}
}

// A plain http request in absolute form is checked the same way.
func TestRequestRulesPlainHTTP(t *testing.T) {
	t.Parallel()
	seen := &seenPaths{}
	up := httptest.NewServer(seen)
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: ruledPolicy(t)})
	c := e.client(t, testToken)
	for path, want := range map[string]int{"/ok/x": 200, "/other": 403} {
		res, err := c.Get(exampleURL(t, up, path))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: got %d, want %d", path, res.StatusCode, want)
		}
	}
	res, err := c.Post(exampleURL(t, up, "/ok/x"), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 || !strings.HasPrefix(res.Header.Get(policy.HeaderName), "POST to example.com is not allowed") {
		t.Errorf("POST: got %d %q", res.StatusCode, res.Header.Get(policy.HeaderName))
	}
	if got := seen.lines(); len(got) != 1 || got[0] != "GET /ok/x" {
		t.Errorf("the server saw %q, want only GET /ok/x", got)
	}
}

// A CONNECT to a host with request rules that does not speak TLS is
// refused: plain HTTP inside it could not be checked.
func TestRequestRulesRefusePlainTextTunnel(t *testing.T) {
	t.Parallel()
	seen := &seenPaths{}
	up := httptest.NewServer(seen)
	t.Cleanup(up.Close)
	p := ruledPolicy(t)
	e := newEnv(t, envOpts{policy: p, creds: ruledCreds{p}})
	host := "example.com:" + examplePort(up)
	res, conn, br := e.rawConnect(t, host, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	fmt.Fprintf(conn, "GET /secret HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	got, _ := io.ReadAll(br)
	if strings.Contains(string(got), "ok") || len(seen.lines()) != 0 {
		t.Errorf("a plain-text request went through the tunnel: agent got %q, server saw %q", got, seen.lines())
	}
}
