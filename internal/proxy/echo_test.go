package proxy

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/moatsh/moat/internal/policy"
)

// TestEchoedSecretCutOff has an upstream echo the injected secret back in
// every way it can: the agent must never get it, in whole or in part, and
// the request's event must record the refusal.
func TestEchoedSecretCutOff(t *testing.T) {
	t.Parallel()
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + testSecret))
	echoes := map[string]func(w http.ResponseWriter){
		"/body":       func(w http.ResponseWriter) { io.WriteString(w, `{"Authorization": "Bearer `+testSecret+`"}`) },
		"/header":     func(w http.ResponseWriter) { w.Header().Set("X-Echo", "Bearer "+testSecret) },
		"/header-key": func(w http.ResponseWriter) { w.Header().Set("X-"+testSecret, "1") },
		"/urlencoded": func(w http.ResponseWriter) { io.WriteString(w, "k="+url.QueryEscape(testSecret)) },
		"/base64":     func(w http.ResponseWriter) { io.WriteString(w, "Basic "+basic) },
		"/base64-1": func(w http.ResponseWriter) {
			io.WriteString(w, base64.StdEncoding.EncodeToString([]byte("a"+testSecret)))
		},
		"/base64-2": func(w http.ResponseWriter) {
			io.WriteString(w, base64.URLEncoding.EncodeToString([]byte("ab"+testSecret)))
		},
		"/split": func(w http.ResponseWriter) { // across two flushed chunks
			io.WriteString(w, "data: "+testSecret[:5])
			w.(http.Flusher).Flush()
			io.WriteString(w, testSecret[5:]+"\n\n")
		},
		"/late": func(w http.ResponseWriter) { // after 100 KiB of innocent text
			w.Write(bytes.Repeat([]byte("x"), 100<<10))
			io.WriteString(w, testSecret)
		},
		"/trailer": func(w http.ResponseWriter) {
			w.Header().Set("Trailer", "X-Echo")
			io.WriteString(w, "ok")
			w.Header().Set("X-Echo", testSecret)
		},
		"/gzip": func(w http.ResponseWriter) { // compressed: the transport decodes it for the guard
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, testSecret)
			zw.Close()
		},
		"/brotli": func(w http.ResponseWriter) { // an encoding the proxy cannot read
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, "opaque")
		},
	}
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if echo, ok := echoes[r.URL.Path]; ok {
			echo(w)
			return
		}
		io.WriteString(w, "fine data: "+testSecret[:5]) // ends with the secret's start
	}))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
	c := e.client(t, testToken)
	for path := range echoes {
		res, err := c.Get(exampleURL(t, up, path))
		var body []byte
		if err == nil {
			body, err = io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil && res.StatusCode != http.StatusBadGateway {
				t.Errorf("%s: status %d and a complete body, want 502 or a cut-off body", path, res.StatusCode)
			}
			if err == nil && res.Header.Get(policy.HeaderName) == "" {
				t.Errorf("%s: 502 without %s", path, policy.HeaderName)
			}
		}
		all := string(body)
		if res != nil {
			all += headerText(res.Header) + headerText(res.Trailer)
		}
		if strings.Contains(all, testSecret[:5]) || strings.Contains(all, basic[4:]) {
			t.Errorf("%s: the agent got (part of) the secret: %q", path, all)
		}
		ev := e.event(t)
		if !strings.HasPrefix(ev.Decision, "deny: the response from example.com:") || ev.Err == "" {
			t.Errorf("%s: event %+v, want the refusal recorded", path, ev)
		}
	}
	// The control: a response without the secret, ending with its first
	// bytes, arrives whole.
	res, err := c.Get(exampleURL(t, up, "/ok"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || string(body) != "fine data: "+testSecret[:5] {
		t.Fatalf("the control: got %q, %v", body, err)
	}
	if ev := e.event(t); ev.Decision != "allow" || ev.Grant != "github" {
		t.Errorf("the control's event: %+v", ev)
	}
}

func headerText(h http.Header) string {
	var b strings.Builder
	h.Write(&b)
	return b.String()
}

// TestEchoGuardReads checks the guard on every split of a body into reads
// of one byte, and with small buffers.
func TestEchoGuardReads(t *testing.T) {
	t.Parallel()
	needles := newNeedleSet(secretForms("s3cr3t-value-42"))
	tests := []struct {
		body string
		ok   bool
	}{
		{"hello s3cr3t-value-4", true},
		{"s3cr3t-value-4", true},
		{"xx s3cr3t-value-42 yy", false},
		{"s3cr3t-value-42", false},
		{"s3cr3t%2Dvalue-42", true}, // QueryEscape leaves "-" alone: not a form of it
		{"czNjcjN0LXZhbHVlLTQy", false},
		{"s3s3cr3t-value-42", false},
	}
	for _, tt := range tests {
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, func(r io.Reader) io.Reader { return r }} {
			g := &echoGuard{body: io.NopCloser(wrap(strings.NewReader(tt.body))), needles: needles, res: &http.Response{},
				refused: func(string) error { return errEcho }}
			var got []byte
			buf := make([]byte, 3)
			for {
				n, err := g.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					if tt.ok {
						t.Errorf("%q: %v", tt.body, err)
					}
					break
				}
			}
			if tt.ok && string(got) != tt.body {
				t.Errorf("%q: delivered %q", tt.body, got)
			}
			if !tt.ok && strings.Contains(string(got), "s3cr3t-value-42"[:6]) {
				t.Errorf("%q: delivered part of the secret: %q", tt.body, got)
			}
		}
	}
}

var errEcho = &echoError{msg: "echo"}

func TestHeaderEcho(t *testing.T) {
	t.Parallel()
	needles := newNeedleSet(secretForms("s3cr3t-value-42"))
	tests := []struct {
		h    http.Header
		want string
	}{
		{http.Header{"Content-Type": {"text/plain"}, "X": {"s3cr3t"}}, ""},
		{http.Header{"X-Echo": {"Bearer s3cr3t-value-42"}}, "X-Echo"},
		{http.Header{"X-Echo": {"ok", "czNjcjN0LXZhbHVlLTQy"}}, "X-Echo"},
		{http.Header{"X-S3CR3T-VALUE-42": {"1"}}, "name"},
		{http.Header{"S3cr3t-Value-42": {"1"}}, "name"},
	}
	for _, tt := range tests {
		if got := headerEcho(tt.h, needles); got != tt.want {
			t.Errorf("headerEcho(%v) = %q, want %q", tt.h, got, tt.want)
		}
	}
}

func TestSecretForms(t *testing.T) {
	t.Parallel()
	forms := newNeedleSet(secretForms("tok/en+1")).s
	want := []string{"tok/en+1", "tok%2Fen%2B1", "tok%2Fen+1", "dG9rL2VuKzE", "dG9rL2VuKzE"}
	for _, w := range want[:3] {
		if !containsAny(w, forms) {
			t.Errorf("forms %q miss %q", forms, w)
		}
	}
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte("p"), pad), "tok/en+1"...))
		if !containsAny(enc, forms) {
			t.Errorf("forms %q miss the base64 at offset %d: %s", forms, pad, enc)
		}
	}
	if secretForms("") != nil {
		t.Error("an empty secret has forms")
	}
}

// TestTraceRefused checks that TRACE and TRACK never reach the upstream,
// in plain HTTP and inside an intercepted tunnel.
func TestTraceRefused(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	plain, tlsUp := httptest.NewServer(handler), httptest.NewTLSServer(handler)
	t.Cleanup(plain.Close)
	t.Cleanup(tlsUp.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: tlsUp})
	c := e.client(t, testToken)
	for _, m := range []string{"TRACE", "TRACK", "trace"} {
		for _, u := range []string{exampleURL(t, plain, "/"), exampleURL(t, tlsUp, "/")} {
			req, _ := http.NewRequest(m, u, nil)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != policy.DenyStatus || !strings.HasPrefix(res.Header.Get(policy.HeaderName), "method ") {
				t.Errorf("%s %s: %d %q, want moat's refusal", m, u, res.StatusCode, res.Header.Get(policy.HeaderName))
			}
			if ev := e.event(t); !strings.HasPrefix(ev.Decision, "deny: method ") {
				t.Errorf("%s %s: event %+v", m, u, ev)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the upstreams got %d requests", n)
	}
}

// TestBlindTunnelServerName sends ClientHellos through a blind tunnel to
// an allowed, tunnel-only host: the CONNECT host's name gets through,
// another name or none is refused and recorded.
func TestBlindTunnelServerName(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }))
	t.Cleanup(up.Close)
	pol := examplePolicy(t, "example.com")
	if err := pol.SetTunnelOnly([]string{"example.com"}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{policy: pol})
	target := "example.com:" + examplePort(up)
	roots := e.roots.Clone()
	roots.AddCert(up.Certificate())
	for _, tt := range []struct {
		sni string
		ok  bool
	}{{"example.com", true}, {"EXAMPLE.com", true}, {"other.example", false}, {"", false}} {
		res, conn, _ := e.rawConnect(t, target, testToken)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", res.StatusCode)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true})
		err := tc.Handshake()
		if (err == nil) != tt.ok {
			t.Errorf("server name %q: handshake error %v, want ok=%v", tt.sni, err, tt.ok)
		}
		conn.Close()
		ev := e.event(t)
		if tt.ok && ev.Decision != "allow" || !tt.ok && !strings.HasPrefix(ev.Decision, "deny: the TLS") {
			t.Errorf("server name %q: event %+v", tt.sni, ev)
		}
	}
}

// TestOwnAddressAfterDial reaches a host address the policy does not know
// as the host's (Local is nil) through a CIDR rule: the connection's two
// ends are one address, so the proxy refuses it after the dial.
func TestOwnAddressAfterDial(t *testing.T) {
	t.Parallel()
	own := hostAddress(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(own.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	bits := 8
	if own.Is6() {
		bits = 16
	}
	cidr := netip.PrefixFrom(own, bits).Masked().String()
	p, err := policy.New(policy.Permissive, []string{cidr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{policy: p})
	res, err := e.client(t, testToken).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != policy.DenyStatus || !strings.Contains(res.Header.Get(policy.HeaderName), "an address of the host moat runs on") {
		t.Errorf("got %d %q, want moat's refusal", res.StatusCode, res.Header.Get(policy.HeaderName))
	}
}

// hostAddress is an address of one of this machine's interfaces, not
// loopback or link-local.
func hostAddress(t *testing.T) netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ip, _ := netip.AddrFromSlice(n.IP)
			ip = ip.Unmap()
			if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	t.Skip("this machine has no IPv4 address but loopback")
	return netip.Addr{}
}

// BenchmarkEchoGuard is the guard's cost on a small response with the
// headers a typical API sends: the latency it adds to every request that
// carries a credential.
func BenchmarkEchoGuard(b *testing.B) {
	s := &Server{}
	secret := "ghp_" + strings.Repeat("x1Y2", 9)
	h := http.Header{
		"Content-Type":          {"application/json; charset=utf-8"},
		"Date":                  {"Sat, 05 Dec 2026 02:10:04 GMT"},
		"Content-Length":        {"2"},
		"X-Github-Request-Id":   {"C0A8:3F2B:1A2B3C:1B2C3D:6751A1B2"},
		"X-Ratelimit-Remaining": {"4999"},
		"Cache-Control":         {"private, max-age=60, s-maxage=60"},
	}
	buf := make([]byte, 512)
	for b.Loop() {
		x := &exchange{target: target{host: "api.github.com", port: 443}}
		x.needles = s.echoNeedles([]string{secret})
		res := &http.Response{Header: h, Body: io.NopCloser(strings.NewReader("{}"))}
		if err := s.guardResponse(x, res); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := res.Body.Read(buf); err != nil {
				break
			}
		}
	}
}
