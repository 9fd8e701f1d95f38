package egress

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/proxy"
)

func TestCredentialsApply(t *testing.T) {
	t.Parallel()
	c := newCredentials([]GrantSecret{
		{Grant: grant.Grant{Name: "github", Kind: grant.GitHub}, Secret: []byte("gh-" + testSecret)},
		{Grant: grant.Grant{Name: "my-api", Kind: grant.HTTP, Hosts: []string{"api.example.com"}, Header: "X-Api-Key"}, Secret: []byte(testSecret)},
	}, nil, t.Logf)
	tests := []struct {
		url          string
		grant        string // "" means nothing applies
		header, want string
	}{
		{"https://api.github.com/user", "github", "Authorization", "Bearer gh-" + testSecret},
		{"https://github.com/login", "", "", ""}, // covered, but the web UI gets nothing
		{"https://api.example.com/v1", "my-api", "X-Api-Key", testSecret},
		{"https://example.com/", "", "", ""},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", tt.url, nil)
		applied, ok, err := c.Apply(r.URL.Host, r)
		if err != nil || ok != (tt.grant != "") || applied.Grant != tt.grant {
			t.Fatalf("%s: got %v, %v, %v; want grant %q", tt.url, applied.Grant, ok, err, tt.grant)
		}
		if !ok {
			if len(r.Header) != 0 {
				t.Fatalf("%s: set headers %v without applying", tt.url, r.Header)
			}
			continue
		}
		if r.Header.Get(tt.header) != tt.want || len(applied.Secrets) != 1 || !strings.HasSuffix(tt.want, applied.Secrets[0]) {
			t.Fatalf("%s: %s or the secrets to guard are wrong", tt.url, tt.header)
		}
	}
	if !c.Intercept("github.com") || !c.Intercept("api.example.com") || c.Intercept("example.com") {
		t.Fatal("Intercept does not follow the grants' hosts")
	}
}

// testSigner is a test-only request signer in the shape of AWS SigV4: it
// hashes the body, signs the method, URL, hash and a date with the secret,
// and sets three headers.
type testSigner struct{ date string }

func (testSigner) Channel() string { return grant.ChannelHTTPS }

func (s testSigner) ApplyRequest(r *http.Request, _ grant.Grant, secret grant.Secret) (bool, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return false, err
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	hash := sha256.Sum256(body)
	r.Header.Set("X-Test-Date", s.date)
	r.Header.Set("X-Test-Content-Sha256", hex.EncodeToString(hash[:]))
	r.Header.Set("Authorization", "TEST-HMAC-SHA256 Signature="+testSignature(secret.Reveal(), r.Method, r.URL.String(), s.date, hash[:]))
	return true, nil
}

func testSignature(key []byte, method, url, date string, bodyHash []byte) string {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, method+"\n"+url+"\n"+date+"\n"+hex.EncodeToString(bodyHash))
	return hex.EncodeToString(m.Sum(nil))
}

// TestSignerThroughProxy puts a grant whose applier signs requests behind
// a proxy, as the sidecar does, and checks that the signer gets the
// request as it goes upstream and that what it sets reaches the upstream.
func TestSignerThroughProxy(t *testing.T) {
	t.Parallel()
	type seen struct {
		header http.Header
		body   string
	}
	got := make(chan seen, 1)
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Clone(), string(b)}
	}))
	t.Cleanup(up.Close)
	host := "example.com:" + strconv.Itoa(up.Listener.Addr().(*net.TCPAddr).Port)

	creds := newCredentials(nil, nil, t.Logf)
	creds.grants = append(creds.grants, &runGrant{
		grant:  grant.Grant{Name: "signed-api", Kind: grant.HTTP, Hosts: []string{host}, Header: "Authorization"},
		apply:  testSigner{date: "20260101T000000Z"},
		secret: grant.NewSecret([]byte(testSecret)),
	})
	client := serveProxy(t, up, creds)

	target := "https://" + host + "/bucket/object?part=2"
	res, err := client.Post(target, "application/octet-stream", strings.NewReader("the object"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	s := <-got
	hash := sha256.Sum256([]byte("the object"))
	want := "TEST-HMAC-SHA256 Signature=" + testSignature([]byte(testSecret), "POST", target, "20260101T000000Z", hash[:])
	if s.body != "the object" || s.header.Get("Authorization") != want ||
		s.header.Get("X-Test-Content-Sha256") != hex.EncodeToString(hash[:]) || s.header.Get("X-Test-Date") != "20260101T000000Z" {
		t.Fatalf("upstream got body %q and headers %v; want the body and the signer's three headers", s.body, s.header)
	}
}

// serveProxy serves a proxy with creds that reaches up as example.com,
// and returns the agent's client for it.
func serveProxy(t *testing.T, up *httptest.Server, creds *credentials) *http.Client {
	t.Helper()
	ca, _ := testRunCA(t, t.TempDir())
	upstreamRoots := x509.NewCertPool()
	upstreamRoots.AddCert(up.Certificate())
	srv := &proxy.Server{
		Token:       "tok-123",
		Credentials: creds,
		Leaves:      proxy.NewLeaves(ca, nil),
		UpstreamTLS: &tls.Config{RootCAs: upstreamRoots},
		Resolver: func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		},
		Logf: t.Logf,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	proxyURL := &url.URL{Scheme: "http", User: url.UserPassword("agent", "tok-123"), Host: ln.Addr().String()}
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// The sidecar intercepts a host whose network.allow entry limits methods
// or paths even without a grant for it: those live inside its TLS.
func TestSidecarInterceptsHostsWithRequestRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, runCA := testRunCA(t, dir)
	cfg := &Config{Token: "t", Socket: filepath.Join(dir, "p.sock"), CA: runCA, Policy: Policy{Mode: "strict", Allow: []Allow{
		{Rule: "api.test", Methods: []string{"GET"}},
		{Rule: "open.test"},
		{Rule: "alt.test:8443", Paths: []string{"/a/**"}},
		{Rule: "*.wild.test", Methods: []string{"GET"}},
	}}}
	srv, err := newServer(cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"api.test": true, "api.test:8443": true, "open.test": false, "alt.test:8443": true, "alt.test": false,
		"a.wild.test": true, "wild.test": false, "other.test": false,
	} {
		if got := srv.Credentials.Intercept(host); got != want {
			t.Errorf("Intercept(%q) = %v, want %v", host, got, want)
		}
	}
}
