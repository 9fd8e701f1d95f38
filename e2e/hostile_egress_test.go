//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moatsh/moat/internal/policy"
)

// The agent attacks the proxy's policy from inside a run: it aims at the
// host's own services, fronts a hidden name behind an allowed one, and
// gets an upstream to echo the credential the proxy injected.

// hostileEgressWorkspace is a workspace for the agent (uid 1000) with
// network settings extra under network:, and files.
func (e *moatEnv) hostileEgressWorkspace(network string, files map[string]string) string {
	all := map[string]string{"agent.yaml": "dependencies: [curl, git, python]\nnetwork:\n" + network}
	for k, v := range files {
		all[k] = v
	}
	ws := e.workspace(all)
	if err := os.Chown(ws, 1000, 1000); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// TestHostileEgressHostsOwnAddress: a server bound to 0.0.0.0 on the host
// answers on the engine bridge's address, inside a network the agent's
// agent.yaml allows by CIDR. Through the proxy the agent must get moat's
// refusal: a CIDR rule for a network does not open the host itself.
func TestHostileEgressHostsOwnAddress(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "host-service-reached") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	target := "http://" + net.JoinHostPort(bridgeAddress(t), port) + "/"

	// The control: the server answers on the bridge's address, from the host.
	res, err := http.Get(target)
	if err != nil {
		t.Fatalf("the control request from the host: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "host-service-reached" {
		t.Fatalf("the control request from the host got %q", body)
	}

	ws := e.hostileEgressWorkspace("  policy: permissive\n  allow: [\"172.16.0.0/12\", \"10.0.0.0/8\", \"192.168.0.0/16\"]\n", nil)
	out := e.mustRun(0, "run", ws, "--", "sh", "-c", `curl -sS -m 10 -i `+target+`; echo; curl -sS -m 10 -i -p `+target+`; true`).stdout
	if strings.Contains(out, "host-service-reached") {
		t.Fatalf("the agent reached the host's own service through the proxy:\n%s", out)
	}
	if strings.Count(out, "HTTP/1.1 403") < 2 || !strings.Contains(out, policy.HeaderName+": ") || !strings.Contains(out, "an address of the host moat runs on") {
		t.Errorf("want moat's refusal for the plain request and the CONNECT, got:\n%s", out)
	}
}

// sniServer is a TLS server for any name that answers with the server
// name the client asked for.
func sniServer(t *testing.T, names ...string) (port, caPEM string) {
	t.Helper()
	cert, caPEM := serverCert(t, names[0])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "reached sni=%s", r.TLS.ServerName)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, caPEM
}

// frontScript CONNECTs through the agent's proxy to argv[1] and sends a
// ClientHello naming argv[2] (no SNI if empty), then GETs /.
const frontScript = `import base64, os, socket, ssl, sys, urllib.parse
u = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
auth = base64.b64encode(f"{u.username}:{u.password}".encode()).decode()
s = socket.create_connection((u.hostname, u.port), timeout=10)
s.sendall(f"CONNECT {sys.argv[1]} HTTP/1.1\r\nHost: {sys.argv[1]}\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
print(head.split(b"\r\n")[0].decode())
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname=sys.argv[2] or None)
    t.sendall(b"GET / HTTP/1.1\r\nHost: " + sys.argv[2].encode() + b"\r\nConnection: close\r\n\r\n")
    print(t.recv(4096).decode(errors="replace"))
except Exception as e:
    print("refused:", type(e).__name__, e)
`

// TestHostileEgressDomainFronting: the agent CONNECTs to a name the policy
// allows, tunnel-only, and sends a ClientHello for another the server also
// serves. The blind tunnel must refuse it; the same tunnel with the allowed name (the
// control) reaches the server.
func TestHostileEgressDomainFronting(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	port, _ := sniServer(t, "front.test")
	// Tunnel-only: the SNI check guards blind tunnels; an opened connection
	// goes to the CONNECT host whatever the ClientHello names.
	ws := e.hostileEgressWorkspace("  allow: [{host: front.test, tunnel-only: true}]\n  hosts: {front.test: 127.0.0.1}\n",
		map[string]string{"front.py": frontScript})
	res := e.mustRun(0, "run", ws, "--", "sh", "-c",
		`for sni in front.test FRONT.test hidden.test ""; do echo "== $sni"; python3 /workspace/front.py front.test:`+port+` "$sni"; done`)
	out := res.stdout
	sections := map[string]string{}
	for _, part := range strings.Split(out, "== ")[1:] {
		name, rest, _ := strings.Cut(part, "\n")
		sections[name] = rest
	}
	if !strings.Contains(sections["front.test"], "reached sni=front.test") {
		t.Fatalf("the control (the allowed name in the ClientHello) did not reach the server:\n%s", out)
	}
	if !strings.Contains(sections["FRONT.test"], "reached sni=") {
		t.Errorf("the allowed name in another case was refused:\n%s", out)
	}
	for _, sni := range []string{"hidden.test", ""} {
		if strings.Contains(sections[sni], "reached") || !strings.Contains(sections[sni], "refused") {
			t.Errorf("a ClientHello naming %q through a CONNECT to front.test was not refused:\n%s", sni, sections[sni])
		}
	}
}

const echoSecret = "sk-echo-SECRET-41d7c9e2b8a6f03"

// echoServer is a TLS API that echoes the request's X-Api-Key back in
// every way the agent could read it, and counts what it was sent.
type echoServer struct {
	port, caPEM string
	mu          sync.Mutex
	methods     []string
	keyed       atomic.Int64 // requests that carried the secret
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	s := &echoServer{}
	cert, caPEM := serverCert(t, "echo.test")
	s.caPEM = caPEM
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.methods = append(s.methods, r.Method)
			s.mu.Unlock()
			key := r.Header.Get("X-Api-Key")
			if key == echoSecret {
				s.keyed.Add(1)
			}
			switch r.URL.Path {
			case "/headers": // httpbin's /headers
				fmt.Fprintf(w, `{"headers": {"X-Api-Key": %q}}`, key)
			case "/header":
				w.Header().Set("X-Echo", key)
				io.WriteString(w, "see the header\n")
			case "/base64":
				io.WriteString(w, base64.StdEncoding.EncodeToString([]byte("key="+key)))
			case "/split": // the key across two flushed chunks
				io.WriteString(w, "start "+key[:7])
				w.(http.Flusher).Flush()
				io.WriteString(w, key[7:]+" end")
			default:
				io.WriteString(w, "fine\n")
			}
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	_, s.port, _ = net.SplitHostPort(ln.Addr().String())
	return s
}

func (e *moatEnv) echoWorkspace(s *echoServer) string {
	res := e.runInput(echoSecret, "grant", "http", "echoapi", "--host", "echo.test:"+s.port, "--header", "X-Api-Key", "--token-stdin")
	if res.code != 0 {
		e.t.Fatalf("grant: %s", res)
	}
	return e.hostileEgressWorkspace("  hosts: {echo.test: 127.0.0.1}\n  ca: echo-ca.pem\ngrants: [echoapi]\n",
		map[string]string{"echo-ca.pem": s.caPEM})
}

// TestHostileEgressEchoedSecret: an upstream that echoes the request's
// headers (in the body, in a header, in base64, across chunks) would hand
// the agent the credential the proxy injected. The agent must never see
// it, and the run's audit log must record each refusal.
func TestHostileEgressEchoedSecret(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newEchoServer(t)
	ws := e.echoWorkspace(s)
	base := "https://echo.test:" + s.port
	name := uniqueName(t)
	var script []string
	for _, p := range []string{"/ok", "/headers", "/header", "/base64", "/split"} {
		script = append(script, `echo "== `+p+`"; curl -sS -i -m 10 `+base+p+` 2>&1`)
	}
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", strings.Join(script, "; ")+"; true")
	out := res.stdout + res.stderr
	b64 := base64.StdEncoding.EncodeToString([]byte("key=" + echoSecret))
	if strings.Contains(out, echoSecret) || strings.Contains(out, b64[4:len(b64)-4]) || strings.Contains(out, echoSecret[:7]) {
		t.Errorf("the agent saw the injected secret:\n%s", out)
	}
	if !strings.Contains(out, "fine") {
		t.Fatalf("the control request (/ok) did not get through:\n%s", out)
	}
	if n := s.keyed.Load(); n < 5 {
		t.Errorf("the upstream saw the secret on %d requests, want 5: the echo requests did not reach it", n)
	}
	r := e.find(name)
	kinds := auditKinds(t, e, r.ID)
	if denied := slices.Index(kinds, "net.denied"); denied < 0 || strings.Count(strings.Join(kinds, " "), "net.denied") < 4 {
		t.Errorf("audit events %v: want a net.denied for each of the 4 echoes", kinds)
	}
	audit, err := os.ReadFile(filepath.Join(e.runsDir(), r.ID, "proxy", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), "carried the credential moat injected") {
		t.Errorf("the audit log does not say why the responses were cut off")
	}
	if strings.Contains(string(audit), echoSecret) {
		t.Errorf("the audit log holds the secret")
	}
	mustContain(t, "audit", e.mustRun(0, "audit", name).stdout, ": OK\n")
}

// TestHostileEgressTrace: TRACE and TRACK, whose answer echoes the request
// (the injected credential included), are refused with moat's denial,
// inside an intercepted tunnel and as plain HTTP, and never reach the
// upstream.
func TestHostileEgressTrace(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newEchoServer(t)
	ws := e.echoWorkspace(s)
	base := "https://echo.test:" + s.port
	res := e.mustRun(0, "run", ws, "--", "sh", "-c",
		`curl -sS -i -m 10 -X TRACE `+base+`/ok; curl -sS -i -m 10 -X TRACK `+base+`/ok; curl -sS -i -m 10 `+base+`/ok; true`)
	out := res.stdout
	if strings.Count(out, "HTTP/1.1 403") != 2 || strings.Count(out, policy.HeaderName+": method") != 2 || strings.Contains(out, echoSecret) {
		t.Errorf("want TRACE and TRACK refused by moat, got:\n%s", out)
	}
	mustContain(t, "the control request", out, "fine")
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.methods, "TRACE") || slices.Contains(s.methods, "TRACK") {
		t.Errorf("the upstream got %v", s.methods)
	}
}
