package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkKeepAliveDirect and BenchmarkKeepAliveIntercepted send the same
// keep-alive GET to one httptest TLS server, directly and through an
// intercepted CONNECT; the difference in ns/op is the proxy's added latency.
func BenchmarkKeepAliveDirect(b *testing.B) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	b.Cleanup(up.Close)
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	b.Cleanup(tr.CloseIdleConnections)
	benchGet(b, &http.Client{Transport: tr}, exampleURL(b, up, "/"), func(r *http.Request) { r.URL.Host = up.Listener.Addr().String() })
}

func BenchmarkKeepAliveIntercepted(b *testing.B) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	b.Cleanup(up.Close)
	e := newEnv(b, envOpts{policy: examplePolicy(b), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
	e.srv.OnEvent = nil
	e.srv.Logf = nil
	benchGet(b, e.client(b, testToken), exampleURL(b, up, "/"), nil)
}

func benchGet(b *testing.B, c *http.Client, url string, edit func(*http.Request)) {
	get := func() {
		req, _ := http.NewRequest("GET", url, nil)
		if edit != nil {
			edit(req)
		}
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	get() // connect and handshake outside the loop
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}
