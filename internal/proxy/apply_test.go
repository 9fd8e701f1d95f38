package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// signingCreds covers example.com and hands every request to apply, as a
// request signer (AWS SigV4) would get it. internal/egress tests a signer
// whose changes reach the upstream through this path.
type signingCreds struct {
	apply func(r *http.Request) error
}

func (c signingCreds) Apply(host string, r *http.Request) (Applied, bool, error) {
	if hostOnly(host) != "example.com" {
		return Applied{}, false, nil
	}
	return Applied{Grant: "signed", Secrets: []string{testSecret}}, true, c.apply(r)
}

func (signingCreds) Intercept(host string) bool { return hostOnly(host) == "example.com" }

func (signingCreds) Secrets() []Sensitive {
	return []Sensitive{{Value: testSecret, What: `grant "signed"`}}
}

// TestCredentialsApplyErrorFailsRequest checks that a credential that
// cannot be applied fails the request with 502, saying why, and that
// nothing reaches the upstream.
func TestCredentialsApplyErrorFailsRequest(t *testing.T) {
	t.Parallel()
	var reached atomic.Bool
	up := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	t.Cleanup(up.Close)
	fail := func(*http.Request) error { return errors.New("request body over 16 MiB cannot be signed") }
	e := newEnv(t, envOpts{creds: signingCreds{apply: fail}, upstream: up})
	res, err := e.client(t, testToken).Post(exampleURL(t, up, "/"), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	const want = `moat proxy: applying grant "signed": request body over 16 MiB cannot be signed`
	if res.StatusCode != http.StatusBadGateway || strings.TrimSpace(string(body)) != want {
		t.Fatalf("got %d %q, want 502 %q", res.StatusCode, body, want)
	}
	if reached.Load() {
		t.Fatal("the request reached the upstream")
	}
	if ev := e.event(t); ev.Grant != "signed" || !strings.Contains(ev.Err, "cannot be signed") {
		t.Fatalf("event %+v, want grant signed and the error", ev)
	}
}
