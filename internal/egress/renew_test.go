package egress

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/grant"
)

// unsignedJWT is a token whose only claim is exp, as the proxy reads it.
func unsignedJWT(exp time.Time) string {
	claims := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, exp.Unix())))
	return "eyJhbGciOiJub25lIn0." + claims + ".sig"
}

// tokenEndpoint is a fake auth.openai.com: it renews one refresh token,
// rotating it, or fails when told to.
type tokenEndpoint struct {
	srv   *httptest.Server
	fail  atomic.Bool
	mu    sync.Mutex
	seen  []string // the refresh tokens it was sent
	fresh string   // the access token it hands out
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	e := &tokenEndpoint{fresh: unsignedJWT(time.Now().Add(time.Hour))}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		e.mu.Lock()
		e.seen = append(e.seen, body["refresh_token"])
		e.mu.Unlock()
		if e.fail.Load() || r.URL.Path != "/oauth/token" || body["grant_type"] != "refresh_token" {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"access_token": e.fresh, "refresh_token": "rt-2"})
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// client reaches the endpoint for any name, as the proxy's renewer reaches
// auth.openai.com through network.hosts.
func (e *tokenEndpoint) client() *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(e.srv.Certificate())
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs, tr.TLSClientConfig.ServerName = roots, "example.com"
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, e.srv.Listener.Addr().String())
	}
	return &http.Client{Transport: tr}
}

func codexGrant(access string) GrantSecret {
	login := grant.ChatGPTLogin{AccessToken: access, RefreshToken: "rt-1", AccountID: "acct-1"}
	return GrantSecret{Grant: grant.Grant{Name: "codex", Kind: grant.Codex}, Secret: login.Secret().Reveal()}
}

// TestProxyRenewsAnExpiringLogin checks that the proxy renews an OAuth
// login whose access token is about to expire, once, and sends the new
// token; that a token with time left is sent as it is; and that a failed
// renewal leaves the old token in use.
func TestProxyRenewsAnExpiringLogin(t *testing.T) {
	t.Parallel()
	endpoint := newTokenEndpoint(t)
	old := unsignedJWT(time.Now().Add(time.Minute))
	c := newCredentials([]GrantSecret{codexGrant(old)}, endpoint.client(), t.Logf)
	bearer := func() string {
		r, _ := http.NewRequest("POST", "https://chatgpt.com/backend-api/codex/responses", nil)
		applied, ok, err := c.Apply(r.URL.Host, r)
		if err != nil || !ok || applied.Grant != "codex" || r.Header.Get("Chatgpt-Account-Id") != "acct-1" {
			t.Fatalf("apply: %v, %v, %+v, %v", ok, err, applied, r.Header)
		}
		return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if got := bearer(); got != endpoint.fresh {
		t.Fatalf("sent %q, want the renewed token", got)
	}
	if got := bearer(); got != endpoint.fresh {
		t.Fatalf("second request sent %q", got)
	}
	if len(endpoint.seen) != 1 || endpoint.seen[0] != "rt-1" {
		t.Fatalf("the token endpoint saw %q, want one renewal with the stored refresh token", endpoint.seen)
	}
	r, _ := http.NewRequest("POST", "https://auth.openai.com/oauth/token", nil)
	if _, ok, _ := c.Apply(r.URL.Host, r); ok || r.Header.Get("Authorization") != "" {
		t.Error("the agent's own request to the token endpoint got the login")
	}

	lasting := unsignedJWT(time.Now().Add(time.Hour))
	c = newCredentials([]GrantSecret{codexGrant(lasting)}, endpoint.client(), t.Logf)
	if got := bearer(); got != lasting || len(endpoint.seen) != 1 {
		t.Errorf("a token with an hour left: sent %q after %d renewals", got, len(endpoint.seen))
	}

	endpoint.fail.Store(true)
	c = newCredentials([]GrantSecret{codexGrant(old)}, endpoint.client(), t.Logf)
	if got := bearer(); got != old {
		t.Errorf("after a failed renewal sent %q, want the old token", got)
	}
}
