//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the agent tests share: a fake of a provider's API on the host, a
// workspace whose agent.yaml starts the agent against it, a run held open
// after the agent's CLI exits, and the trace and audit checked against
// what the fake saw.

// serveFakeAPI serves h with TLS on addr, such as "127.0.0.7:443", under
// a certificate for host signed by a new test CA, until the test ends,
// and returns the CA. Each test has a loopback address of its own
// (nextLoopback): the proxy reaches public APIs on port 443, and parallel
// tests must not meet.
func serveFakeAPI(t *testing.T, addr, host string, h http.Handler) (caPEM string) {
	t.Helper()
	cert, caPEM := serverCert(t, host)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return caPEM
}

// agentWorkspace is an approved workspace, owned by uid 1000 (the agent's
// user), whose agent.yaml starts agent with host mapped to addr, where a
// fake serves it, and the fake's CA trusted; extra is more agent.yaml.
// Its moat home builds from the tests' npm registry, holding the
// dependency entry (such as "claude-code").
func (e *moatEnv) agentWorkspace(agent, entry, host, addr, caPEM, extra string) string {
	e.t.Helper()
	e.writeConfig("npm_registry: " + npmRegistryFor(e.t, entry) + "\n")
	ws := e.workspace(map[string]string{
		"agent.yaml": "agent: " + agent + "\nnetwork:\n  hosts: {" + host + ": " + addr + "}\n  ca: api-ca.pem\n" + extra,
		"api-ca.pem": caPEM,
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// heldOpen starts a detached 'moat run' of ws whose command runs the
// shell command agentCmd, the agent's CLI named what, and then holds the
// run open, so its container can be scanned; it waits for the CLI to
// finish, checks it succeeded with the fake model's last words, and
// returns the run's name. runFlags go before the workspace.
func (e *moatEnv) heldOpen(ws, what, agentCmd, lastWords string, runFlags ...string) string {
	t := e.t
	t.Helper()
	name := uniqueName(t)
	args := append(append([]string{"run", "-d", "-n", name}, runFlags...), ws, "--", "sh", "-c",
		agentCmd+` > agent.out 2>&1; echo $? > agent.rc; sleep 300`)
	e.mustRun(0, args...)
	waitForDetail(t, 180*time.Second, what+" to finish", func() bool { return exists(filepath.Join(ws, "agent.rc")) },
		func() string { return readFileOr(ws, "agent.out") })
	if rc := strings.TrimSpace(readFile(t, ws, "agent.rc")); rc != "0" {
		t.Fatalf("%s exited %s:\n%s", what, rc, readFile(t, ws, "agent.out"))
	}
	mustContain(t, what+"'s output", readFile(t, ws, "agent.out"), lastWords)
	return name
}

// checkTraceAndAudit stops run name and checks that 'moat trace' and
// 'moat audit' agree with the fake of host, which saw fakeSaw requests:
// each traced, to host with grant g, nothing else traced (no request went
// anywhere else, not even refused), and as many credentials injected.
func (e *moatEnv) checkTraceAndAudit(name, host, g string, fakeSaw int) {
	t := e.t
	t.Helper()
	e.mustRun(0, "stop", name)
	var trace []struct {
		Host, Path, Grant string
		Status            int
	}
	res := e.mustRun(0, "trace", name, "--json")
	if err := json.Unmarshal([]byte(res.stdout), &trace); err != nil {
		t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	granted := 0
	for _, q := range trace {
		if strings.HasPrefix(q.Host, host) && q.Grant == g {
			granted++
		}
	}
	if granted != fakeSaw || len(trace) != fakeSaw {
		t.Errorf("the trace has %d requests, %d to %s with the %s grant; the fake saw %d:\n%s", len(trace), granted, host, g, fakeSaw, res.stdout)
	}
	res = e.mustRun(0, "audit", name)
	n := strconv.Itoa(fakeSaw)
	mustContain(t, "audit", res.stdout, ": OK\n", "credential.injected "+n+",", "net.request "+n+",")
}
