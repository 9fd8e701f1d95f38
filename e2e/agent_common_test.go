//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentWorkspace is a workspace whose agent.yaml starts agent, with host
// (the agent's API) mapped to addr, where a fake of it listens, and the
// fake's CA (caPEM) trusted; approved, and owned by uid 1000 (the agent's
// user). extra is more agent.yaml, such as the grants. Its moat home
// builds from the tests' npm registry, holding dependency's tarballs.
func (e *moatEnv) agentWorkspace(agent, dependency, host, addr, caPEM, extra string) string {
	e.t.Helper()
	e.writeConfig("npm_registry: " + npmRegistryFor(e.t, dependency) + "\n")
	ws := e.workspace(map[string]string{
		"agent.yaml": "agent: " + agent + "\nnetwork:\n  hosts: {" + host + ": " + addr + "}\n  ca: api-ca.pem\n" + extra,
		"api-ca.pem": caPEM,
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// checkAgentRecords checks what moat recorded of the stopped run name
// against the n requests a fake of host saw: the trace holds those n, each
// with grant injected, and nothing else (a request to another host is
// named); the audit log verifies and counts n injections and n requests.
func (e *moatEnv) checkAgentRecords(name, host, grant string, n int) {
	e.t.Helper()
	var trace []struct {
		Host, Path, Grant string
		Status            int
	}
	res := e.mustRun(0, "trace", name, "--json")
	if err := json.Unmarshal([]byte(res.stdout), &trace); err != nil {
		e.t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	granted := 0
	for _, q := range trace {
		if strings.HasPrefix(q.Host, host) && q.Grant == grant {
			granted++
		} else {
			e.t.Errorf("the trace has a request to %s%s (status %d, grant %q), not one to %s with grant %s",
				q.Host, q.Path, q.Status, q.Grant, host, grant)
		}
	}
	if granted != n || len(trace) != n {
		e.t.Errorf("the trace has %d requests, %d with the %s grant; the fake saw %d", len(trace), granted, grant, n)
	}
	res = e.mustRun(0, "audit", name)
	count := strconv.Itoa(n)
	mustContain(e.t, "audit", res.stdout, ": OK\n", "credential.injected "+count+",", "net.request "+count+",")
}

// agentHeldOpen starts a detached 'moat run' of ws (agent.yaml's agent:
// sets the run up) that runs the shell command cmd, the agent's
// non-interactive form, then stays up so its container can be scanned;
// it waits for cmd, which must exit 0 with the fake model's last words,
// and returns the run's name. cmd's stdin is /dev/null: some CLIs wait
// for the end of stdin before they start.
func (e *moatEnv) agentHeldOpen(ws, cmd string, runFlags ...string) string {
	t := e.t
	t.Helper()
	name := uniqueName(t)
	args := append(append([]string{"run", "-d", "-n", name}, runFlags...), ws, "--", "sh", "-c",
		cmd+` > agent.out 2>&1 < /dev/null; echo $? > agent.rc; sleep 300`)
	e.mustRun(0, args...)
	waitForDetail(t, 120*time.Second, "the agent to finish", func() bool { return exists(filepath.Join(ws, "agent.rc")) },
		func() string { return readFileOr(ws, "agent.out") })
	if rc := strings.TrimSpace(readFile(t, ws, "agent.rc")); rc != "0" {
		t.Fatalf("%s exited %s:\n%s", cmd, rc, readFile(t, ws, "agent.out"))
	}
	mustContain(t, "the agent's output", readFile(t, ws, "agent.out"), "Done: the file is written.")
	return name
}

// checkFakeModelFile checks the file the fake models have the agent write:
// in the workspace, with their content, owned by uid 1000 (the workspace's
// owner), not root.
func checkFakeModelFile(t *testing.T, ws string) {
	t.Helper()
	if got := readFile(t, ws, "hello.txt"); got != "hello from the fake model\n" {
		t.Errorf("hello.txt = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(ws, "hello.txt")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("hello.txt: %v, want a file of uid 1000, the workspace's owner", err)
	}
}
