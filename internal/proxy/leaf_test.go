package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source for leaves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func caPool(ca *CA) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())
	return pool
}

func verifyLeaf(cert *tls.Certificate, ca *CA, name string, at time.Time) error {
	_, err := cert.Leaf.Verify(x509.VerifyOptions{
		Roots:       caPool(ca),
		DNSName:     name,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestLeafVerifiesForItsHostOnly(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	leaves := NewLeaves(ca, fixedNow)
	tests := []struct {
		host     string // as asked for
		verifyAs string
		other    string
	}{
		{"example.com", "example.com", "example.org"},
		{"API.Example.COM.", "api.example.com", "example.com"},
		{"example.com:443", "example.com", "www.example.com"},
		{"10.1.2.3", "10.1.2.3", "10.1.2.4"},
		{"10.1.2.3:8443", "10.1.2.3", "example.com"},
		{"[2001:db8::1]:443", "2001:db8::1", "2001:db8::2"},
		{"::1", "::1", "127.0.0.1"},
		{"_internal.example.com", "_internal.example.com", "internal.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			cert, err := leaves.For(tt.host)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyLeaf(cert, ca, tt.verifyAs, testNow); err != nil {
				t.Errorf("verifying as %q: %v", tt.verifyAs, err)
			}
			if err := verifyLeaf(cert, ca, tt.other, testNow); err == nil {
				t.Errorf("verifies as %q, want an error", tt.other)
			}
			checkLeafShape(t, cert, tt.verifyAs)
		})
	}
}

func checkLeafShape(t *testing.T, cert *tls.Certificate, name string) {
	t.Helper()
	leaf := cert.Leaf
	ip := net.ParseIP(name)
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	switch {
	case !ok || key.Curve != elliptic.P256():
		t.Errorf("got key %T, want ECDSA P-256", cert.PrivateKey)
	case leaf.IsCA:
		t.Error("leaf is a CA")
	case ip == nil && (len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name || len(leaf.IPAddresses) != 0):
		t.Errorf("got DNS SANs %v and IP SANs %v, want DNS %q", leaf.DNSNames, leaf.IPAddresses, name)
	case ip != nil && (len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip) || len(leaf.DNSNames) != 0):
		t.Errorf("got DNS SANs %v and IP SANs %v, want IP %s", leaf.DNSNames, leaf.IPAddresses, ip)
	case !leaf.NotBefore.Equal(testNow.Add(-time.Hour)) || !leaf.NotAfter.Equal(testNow.Add(30*24*time.Hour)):
		t.Errorf("got validity %s to %s, want an hour ago to 30 days on", leaf.NotBefore, leaf.NotAfter)
	}
}

func TestLeafForRejectsInvalidHosts(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	leaves := NewLeaves(ca, fixedNow)
	for _, host := range []string{"", ".", ":443", "exa mple.com", "a..b", "-a.com", "*.example.com", "ex\x00ample.com", "fe80::1%eth0", strings.Repeat("a", 64) + ".com"} {
		t.Run(fmt.Sprintf("%q", host), func(t *testing.T) {
			if cert, err := leaves.For(host); err == nil || !strings.HasPrefix(err.Error(), "invalid host") {
				t.Fatalf("got %v, %v; want an invalid host error", cert, err)
			}
		})
	}
	if n := leaves.mints.Load(); n != 0 {
		t.Fatalf("minted %d leaves for invalid hosts", n)
	}
}

func TestCanonicalHost(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM.", "example.com"},
		{"example.com:443", "example.com"},
		{"[::1]", "::1"},
		{"[::1]:443", "::1"},
		{"::FFFF:10.0.0.1", "10.0.0.1"},
		{"2001:DB8:0::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		if got, err := canonicalHost(tt.in); err != nil || got != tt.want {
			t.Errorf("canonicalHost(%q): got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM.:443", "[::1]:8443", "10.0.0.1", "a..b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		name, err := canonicalHost(host)
		if err != nil {
			return
		}
		again, err := canonicalHost(name)
		if err != nil || again != name {
			t.Fatalf("canonicalHost(%q) = %q, but canonicalHost(%q) = %q, %v", host, name, name, again, err)
		}
	})
}

func TestGetCertificateWithoutSNI(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	if _, err := NewLeaves(ca, fixedNow).GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Fatal("got a certificate for a hello without a server name, want an error")
	}
}

func TestLeafCache(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	clk := &clock{t: testNow}
	leaves := NewLeaves(ca, clk.now)
	first, err := leaves.GetCertificate(&tls.ClientHelloInfo{ServerName: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		host  string
		at    time.Time
		fresh bool // want a newly minted certificate
	}{
		{"hit", "example.com", testNow, false},
		{"hit by another spelling", "EXAMPLE.com.:443", testNow, false},
		{"hit a day before renewal", "example.com", testNow.Add(28 * 24 * time.Hour), false},
		{"renewed within a day of expiry", "example.com", testNow.Add(29 * 24 * time.Hour), true},
	}
	for _, s := range steps {
		clk.set(s.at)
		got, err := leaves.For(s.host)
		if err != nil {
			t.Fatal(err)
		}
		if (got != first) != s.fresh {
			t.Errorf("%s: got a fresh certificate %v, want %v", s.name, got != first, s.fresh)
		}
	}
	if n := leaves.mints.Load(); n != 2 {
		t.Fatalf("got %d mints, want 2", n)
	}
}

func TestLeafCappedByCAExpiry(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	clk := &clock{t: ca.cert.NotAfter.Add(-10 * 24 * time.Hour)}
	leaves := NewLeaves(ca, clk.now)
	first, err := leaves.For("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Leaf.NotAfter.Equal(ca.cert.NotAfter) {
		t.Fatalf("got leaf expiry %s, want the CA's %s", first.Leaf.NotAfter, ca.cert.NotAfter)
	}
	clk.set(ca.cert.NotAfter.Add(-time.Hour)) // a new leaf could last no longer
	if again, err := leaves.For("example.com"); err != nil || again != first {
		t.Fatalf("got %p, %v; want the cached leaf %p", again, err, first)
	}
	clk.set(ca.cert.NotAfter)
	if _, err := leaves.For("example.com"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want a CA expired error", err)
	}
}

func TestLeafConcurrentMintOnce(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	leaves := NewLeaves(ca, fixedNow)
	const n = 64
	certs := make([]*tls.Certificate, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			cert, err := leaves.GetCertificate(&tls.ClientHelloInfo{ServerName: "example.com"})
			if err != nil {
				t.Error(err)
			}
			certs[i] = cert
		})
	}
	close(start)
	wg.Wait()
	if got := leaves.mints.Load(); got != 1 {
		t.Errorf("got %d mints, want 1", got)
	}
	for i, c := range certs {
		if c != certs[0] {
			t.Fatalf("handshake %d got another certificate", i)
		}
	}
}

func TestLeafCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	leaves := NewLeaves(ca, fixedNow)
	leaves.max = 3
	host := func(i int) string { return fmt.Sprintf("h%d.example.com", i) }
	for i := range 3 {
		if _, err := leaves.For(host(i)); err != nil {
			t.Fatal(err)
		}
	}
	leaves.For(host(0)) // h1 is now least recently used
	leaves.For(host(3)) // evicts h1
	if got := len(leaves.byHost); got != 3 || leaves.lru.Len() != 3 {
		t.Fatalf("got %d cached (%d in order), want 3", got, leaves.lru.Len())
	}
	tests := []struct {
		host   int
		cached bool
	}{{0, true}, {1, false}, {2, true}, {3, true}}
	for _, tt := range tests {
		if _, ok := leaves.byHost[host(tt.host)]; ok != tt.cached {
			t.Errorf("%s: got cached %v, want %v", host(tt.host), ok, tt.cached)
		}
	}
}

// TestLeafHandshake serves TLS with the leaves and connects with a client
// that trusts only the CA, over HTTP/1.1 and HTTP/2.
func TestLeafHandshake(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	leaves := NewLeaves(ca, nil)
	addr := serveTLS(t, leaves, "127.0.0.1")
	tests := []struct {
		name      string
		url       string
		http2     bool
		wantProto string
		wantALPN  string
	}{
		{"h2 by name", "https://api.example.test/", true, "HTTP/2.0", "h2"},
		{"http/1.1 by name", "https://api.example.test/", false, "HTTP/1.1", "http/1.1"},
		{"h2 by IP", "https://127.0.0.1/", true, "HTTP/2.0", "h2"},
		{"http/1.1 by IP", "https://127.0.0.1/", false, "HTTP/1.1", "http/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := get(t, newClient(ca, addr, tt.http2), tt.url)
			if resp.Proto != tt.wantProto || resp.TLS.NegotiatedProtocol != tt.wantALPN {
				t.Errorf("got %s with ALPN %q, want %s with %q", resp.Proto, resp.TLS.NegotiatedProtocol, tt.wantProto, tt.wantALPN)
			}
		})
	}
}

// serveTLS starts an HTTP/1.1 and HTTP/2 server whose certificates come
// from leaves, using connectHost when the client sends no SNI (as the
// proxy will with the CONNECT host).
func serveTLS(t *testing.T, leaves *Leaves, connectHost string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig: &tls.Config{
			NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if hello.ServerName == "" {
					return leaves.For(connectHost)
				}
				return leaves.GetCertificate(hello)
			},
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// newClient returns a client that trusts only ca and dials addr whatever
// the URL's host.
func newClient(ca *CA, addr string, http2 bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: caPool(ca)},
		ForceAttemptHTTP2: http2,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	if !http2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
		t.Fatalf("got body %q, want ok", body)
	}
	return resp
}

func BenchmarkLeafCacheHit(b *testing.B) {
	ca, _ := newTestCA(b)
	leaves := NewLeaves(ca, fixedNow)
	hello := &tls.ClientHelloInfo{ServerName: "example.com"}
	if _, err := leaves.GetCertificate(hello); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := leaves.GetCertificate(hello); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLeafMint(b *testing.B) {
	ca, _ := newTestCA(b)
	leaves := NewLeaves(ca, fixedNow)
	for b.Loop() {
		if _, err := leaves.mint("example.com", testNow); err != nil {
			b.Fatal(err)
		}
	}
}
