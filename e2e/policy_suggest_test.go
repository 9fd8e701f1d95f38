//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeLocalhost is a TLS server on the host's loopback with a certificate
// for "localhost" from a CA of its own, which answers every request with
// label. It returns its port and the CA.
func fakeLocalhost(t *testing.T, label string) (port, caPEM string) {
	t.Helper()
	cert, caPEM := serverCert(t, "localhost")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, label) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, caPEM
}

// suggestTrace is what the test reads of 'moat trace --json'.
type suggestTrace []struct {
	Host, Decision string
	Status         int
	Denied         bool
}

func (tr suggestTrace) denied() []string {
	var hosts []string
	for _, q := range tr {
		if q.Denied {
			hosts = append(hosts, q.Host)
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// TestPolicySuggest runs a workload that reaches two local TLS servers by
// a name, localhost, on two ports, and a private address no server is at.
// The name resolves (in the proxy) to the host's loopback, which an IP rule
// opens; the name itself needs rules of its own under strict, so a strict
// run is refused it: the control. 'moat policy suggest' on that run, and
// on a permissive run of the same workload, writes a diff that git apply
// and patch -p1 apply; the same workload under the result is refused
// nothing but the private address, which the suggestion set apart as
// risky and left commented out.
func TestPolicySuggest(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	portA, caA := fakeLocalhost(t, "fake-a-answered")
	portB, caB := fakeLocalhost(t, "fake-b-answered")
	const private = "10.77.0.1:9"
	// --noproxy '' sends localhost through the proxy, which NO_PROXY
	// would keep local (where nothing listens).
	var script []string
	for _, u := range []string{"https://localhost:" + portA + "/", "https://localhost:" + portB + "/", "https://" + private + "/"} {
		script = append(script, "curl -sS -k -m 20 --noproxy '' "+u+" || echo refused "+u)
	}
	workload := strings.Join(script, "; ")
	const comment = "# the host's loopback, where the fake servers are; names need their own rules"
	head := "dependencies: [curl, git, python]\nnetwork:\n"
	rest := "  allow:\n    - 127.0.0.1 " + comment + "\n    - \"::1\"\n  ca: fake-ca.pem\n"
	files := map[string]string{"fake-ca.pem": caA + caB}

	for _, tc := range []struct {
		name, policy string
		apply        []string
	}{
		{"strict", "", []string{"git", "apply", "--verbose", "suggested.diff"}},
		{"permissive", "  policy: permissive\n", []string{"patch", "-p1", "-i", "suggested.diff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"agent.yaml": head + tc.policy + rest, "fake-ca.pem": files["fake-ca.pem"]}
			ws := e.workspace(files)
			first := uniqueName(t)
			res := e.mustRun(0, "run", "-n", first, ws, "--", "sh", "-c", workload)
			want := []string{private, "localhost:" + portA, "localhost:" + portB}
			slices.Sort(want)
			if tc.policy != "" {
				mustContain(t, "the permissive run's output", res.stdout, "fake-a-answered", "fake-b-answered", "refused https://"+private)
				want = []string{private}
			} else {
				// The control: without the suggestion, strict refuses the name.
				mustContain(t, "the strict run's output", res.stdout, "refused https://localhost:"+portA, "refused https://localhost:"+portB)
			}
			if got := e.traceOf(first).denied(); !slices.Equal(got, want) {
				t.Fatalf("the first run was refused %q, want %q", got, want)
			}

			res = e.mustRun(0, "policy", "suggest", first)
			diff := res.stdout
			mustContain(t, "the diff", diff, "--- a/agent.yaml\n+++ b/agent.yaml\n",
				"+    - \"localhost:"+portA+"\"\n", "+    - \"localhost:"+portB+"\"\n",
				"+    # - \""+private+"\"  # not added, risky: 10.77.0.1 is a private address (RFC 1918)\n")
			mustContain(t, "stderr", res.stderr, "Not added, risky", private, "it would allow any connection to 10.77.0.1 on port 9")
			if tc.policy != "" {
				mustContain(t, "the diff", diff, "-  policy: permissive\n+  policy: strict\n")
			}
			var data struct {
				SetStrict bool `json:"set_strict"`
				Allow     []struct{ Rule string }
				Risky     []struct{ Rule, Reason string }
			}
			res = e.mustRun(0, "policy", "suggest", first, "--json")
			if err := json.Unmarshal([]byte(res.stdout), &data); err != nil {
				t.Fatalf("--json: %v\n%s", err, res.stdout)
			}
			if data.SetStrict != (tc.policy != "") || len(data.Allow) != 2 || len(data.Risky) != 1 || data.Risky[0].Rule != private {
				t.Fatalf("--json: %+v", data)
			}

			if err := os.WriteFile(filepath.Join(ws, "suggested.diff"), []byte(diff), 0o644); err != nil {
				t.Fatal(err)
			}
			apply := exec.Command(tc.apply[0], tc.apply[1:]...)
			apply.Dir = ws
			if out, err := apply.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s\ndiff:\n%s", tc.apply, err, out, diff)
			}
			yaml := readFile(t, ws, "agent.yaml")
			mustContain(t, "the applied agent.yaml", yaml, comment, "# - \""+private+"\"")
			e.trust(ws) // the new rules need approval, like any rule

			second := uniqueName(t)
			res = e.mustRun(0, "run", "-n", second, ws, "--", "sh", "-c", workload)
			mustContain(t, "the second run's output", res.stdout, "fake-a-answered", "fake-b-answered", "refused https://"+private)
			if got := e.traceOf(second).denied(); !slices.Equal(got, []string{private}) {
				t.Fatalf("under the suggested policy the run was refused %q, want only the risky %s\nagent.yaml:\n%s", got, private, yaml)
			}
			res = e.mustRun(0, "policy", "suggest", second)
			if res.stdout != "" || !strings.Contains(res.stderr, "Nothing to add") {
				t.Fatalf("a second suggestion: %s", res)
			}
		})
	}
}

// traceOf reads run name's requests with 'moat trace --json'.
func (e *moatEnv) traceOf(name string) suggestTrace {
	e.t.Helper()
	res := e.mustRun(0, "trace", name, "--json")
	var tr suggestTrace
	if err := json.Unmarshal([]byte(res.stdout), &tr); err != nil {
		e.t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	return tr
}
