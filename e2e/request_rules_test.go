//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moatsh/moat/internal/policy"
)

// rulesServer is a TLS server on the host's loopback for rules.test and
// ro.test that records every request it gets, as its request line.
type rulesServer struct {
	port, caPEM string

	mu   sync.Mutex
	seen []string
}

func newRulesServer(t *testing.T) *rulesServer {
	t.Helper()
	s := &rulesServer{}
	rules, rulesCA := serverCert(t, "rules.test")
	ro, roCA := serverCert(t, "ro.test")
	s.caPEM = rulesCA + roCA
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.Host)
			s.mu.Lock()
			s.seen = append(s.seen, r.Method+" "+host+" "+r.RequestURI)
			s.mu.Unlock()
			io.WriteString(w, "served\n")
		}),
		// Go picks the certificate whose name the ClientHello asks for.
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{rules, ro}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	_, s.port, _ = net.SplitHostPort(ln.Addr().String())
	return s
}

func (s *rulesServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// pipelineScript CONNECTs to argv[1] through the agent's proxy, completes
// TLS as the agent's clients do (trusting moat's CA), and writes every
// request in argv[2:] (request lines, "|" before extra header lines) in
// one go, pipelined, the last with Connection: close. It prints each
// response's status line and X-Moat-Blocked header.
const pipelineScript = `import base64, os, socket, ssl, sys, urllib.parse
u = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
auth = base64.b64encode(f"{u.username}:{u.password}".encode()).decode()
target = sys.argv[1]
s = socket.create_connection((u.hostname, u.port), timeout=20)
s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
t = ssl.create_default_context().wrap_socket(s, server_hostname=target.split(":")[0])
batch = ""
for i, req in enumerate(sys.argv[2:]):
    line, *extra = req.split("|")
    close = "Connection: close\r\n" if i == len(sys.argv) - 3 else ""
    batch += f"{line} HTTP/1.1\r\nHost: {target}\r\n" + "".join(h + "\r\n" for h in extra) + close + "\r\n"
t.sendall(batch.encode())
data = b""
while True:
    chunk = t.recv(65536)
    if not chunk:
        break
    data += chunk
for l in data.decode(errors="replace").split("\n"):
    l = l.rstrip("\r")
    if l.startswith("HTTP/1.1 ") or l.lower().startswith("x-moat-blocked:"):
        print(l)
`

// TestRequestRules runs an agent against a host whose network.allow entry
// permits only GET under /repos/org/repo/**, and a read-only host. The
// allowed requests get through; a POST, another path, and every traversal
// the agent writes by hand (curl --path-as-is, pipelined raw requests
// over TLS: "..", "%2e%2e", "%2f", "..;", an absolute URI, an h2c
// upgrade, another method) are refused with moat's deny, never reach the server, and show
// in moat trace with the rule.
func TestRequestRules(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newRulesServer(t)
	rules, ro := "rules.test:"+s.port, "ro.test:"+s.port
	ws := e.hostileEgressWorkspace(`  hosts: {rules.test: 127.0.0.1, ro.test: 127.0.0.1}
  ca: ca.pem
  allow:
    - host: rules.test
      methods: [GET]
      paths: ["/repos/org/repo/**"]
    - host: ro.test
      read-only: true
`, map[string]string{"ca.pem": s.caPEM, "pipe.py": pipelineScript})
	curl := func(name, args string) string {
		return fmt.Sprintf(`echo "== %s"; curl -sS -m 20 -i --path-as-is %s 2>&1 | grep -iE '^(HTTP/|x-moat-blocked)'`, name, args)
	}
	script := strings.Join([]string{
		curl("get", "https://"+rules+"/repos/org/repo/issues"),
		curl("post", "-X POST -d x https://"+rules+"/repos/org/repo/issues"),
		curl("other", "https://"+rules+"/repos/org/other"),
		curl("dotdot", "https://"+rules+"/repos/org/repo/../../other/secret"),
		curl("encoded-dotdot", "https://"+rules+"/repos/org/repo/%2e%2e/%2e%2e/other/secret"),
		curl("encoded-slash", "https://"+rules+"/repos/org/repo%2f..%2f..%2fother"),
		curl("ro-get", "https://"+ro+"/pkg"),
		curl("ro-head", "-I https://"+ro+"/pkg"),
		curl("ro-put", "-X PUT -d x https://"+ro+"/pkg"),
		`echo "== pipelined"; python3 /workspace/pipe.py ` + rules + ` "GET /repos/org/repo/first" "GET /repos/org/repo/../../secret" ` +
			`"GET /repos/org/repo/%2e%2e/%2e%2e/secret" "GET /repos/org/repo/..;/..;/secret" "GET /repos/org/repo/..%2F..%2Fsecret" ` +
			`"GET https://` + rules + `/secret" "GET /repos/org/repo/x|Connection: Upgrade|Upgrade: h2c|HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA" ` +
			`"DELETE /repos/org/repo/x" "GET /repos/org/repo/last"`,
		"true",
	}, "; ")
	name := uniqueName(t)
	out := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script).stdout
	sections := map[string]string{}
	for _, part := range strings.Split(out, "== ")[1:] {
		n, rest, _ := strings.Cut(part, "\n")
		sections[n] = rest
	}
	for _, ok := range []string{"get", "ro-get", "ro-head"} {
		if !strings.HasPrefix(sections[ok], "HTTP/1.1 200") || strings.Contains(sections[ok], policy.HeaderName) {
			t.Errorf("%s: want 200 without a denial, got:\n%s", ok, sections[ok])
		}
	}
	denials := map[string]string{
		"post":           "POST to rules.test is not allowed",
		"other":          "permits only the paths /repos/org/repo/** there",
		"dotdot":         `the path has a "." or ".." segment`,
		"encoded-dotdot": `the path has a "." or ".." segment`,
		"encoded-slash":  "the path has an encoded slash or backslash",
		"ro-put":         "PUT to ro.test is not allowed",
	}
	for n, why := range denials {
		mustContain(t, n, sections[n], "HTTP/1.1 403", policy.HeaderName+": ", why, "agent.yaml line")
	}
	pipelined := strings.Split(strings.TrimSpace(sections["pipelined"]), "\n")
	var statuses []string
	for _, l := range pipelined {
		if strings.HasPrefix(l, "HTTP/1.1 ") {
			statuses = append(statuses, strings.Fields(l)[1])
		}
	}
	want := []string{"200", "403", "403", "403", "403", "403", "403", "403", "200"}
	if !slices.Equal(statuses, want) {
		t.Errorf("pipelined: statuses %v, want %v:\n%s", statuses, want, sections["pipelined"])
	}

	// The server saw exactly the allowed requests.
	wantSeen := []string{
		"GET rules.test /repos/org/repo/issues", "GET ro.test /pkg", "HEAD ro.test /pkg",
		"GET rules.test /repos/org/repo/first", "GET rules.test /repos/org/repo/last",
	}
	if got := s.requests(); !slices.Equal(got, wantSeen) {
		t.Errorf("the server saw %q, want only %q", got, wantSeen)
	}

	res := e.mustRun(0, "trace", name, "--json")
	var reqs []struct {
		Method, Host, Path, Decision string
		Status                       int
	}
	if err := json.Unmarshal([]byte(res.stdout), &reqs); err != nil {
		t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	var denied int
	for _, q := range reqs {
		if q.Status == 403 && strings.HasPrefix(q.Decision, "deny: ") && strings.Contains(q.Decision, "network.allow") {
			denied++
		}
	}
	if denied != 13 { // six by curl, seven in the pipeline
		t.Errorf("trace: %d request-rule denials, want 13:\n%s", denied, res.stdout)
	}
	res = e.mustRun(0, "trace", name)
	mustContain(t, "trace", res.stdout, "POST", "is not allowed")
}
