//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// auditKinds returns the event kinds of a run's audit log, in order.
func auditKinds(t *testing.T, e *moatEnv, runID string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(e.runsDir(), runID, "proxy", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kinds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var entry struct{ Kind string }
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		kinds = append(kinds, entry.Kind)
	}
	return kinds
}

// TestAuditLog checks a real run's audit log end to end: the events come in
// order, 'moat audit' passes, an entry edited by hand makes it fail naming
// that entry, and the bundle exported before verifies after the run
// directory is gone.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(agentYAML("docker:dind"))
	name := uniqueName(t)
	e.mustRun(0, "run", "-n", name, ws, "--", "true")
	r := e.find(name)

	// The user's key certifies the proxy's run key before the proxy
	// starts; the proxy sidecar starts alongside the agent's container
	// (and records the egress attestation as the command starts): each
	// track is in order, and the sidecar is gone before the run finishes.
	got := auditKinds(t, e, r.ID)
	agent := slices.DeleteFunc(slices.Clone(got), func(k string) bool {
		return strings.HasPrefix(k, "sidecar.") || k == "egress.attested"
	})
	want := []string{"run.created", "audit.run-key", "container.created", "container.started", "container.exited", "logs.saved", "run.finished", "checkpoint"}
	if !slices.Equal(agent, want) {
		t.Fatalf("audit events: got %v, want %v around the sidecar's", got, want)
	}
	// Two sidecars (the proxy, and BuildKit for docker:dind): each is
	// created, ready and removed, and all are gone before the run finishes.
	for _, k := range []string{"sidecar.created", "sidecar.ready", "sidecar.removed"} {
		n := 0
		for i, g := range got {
			if g == k {
				n++
				if i > slices.Index(got, "run.finished") {
					t.Errorf("audit events: %s after run.finished in %v", k, got)
				}
			}
		}
		if n != 2 {
			t.Errorf("audit events: %d %s, want 2 (proxy and BuildKit) in %v", n, k, got)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(e.runsDir(), r.ID, "proxy", "audit.jsonl"))
	if !strings.Contains(string(raw), `"elevation_reason":"docker:dind"`) || !strings.Contains(string(raw), "SYS_ADMIN") {
		t.Errorf("container.created does not record the dind privileges and their reason:\n%s", raw)
	}
	res := e.mustRun(0, "audit", name)
	mustContain(t, "stdout", res.stdout, ": OK\n", "15 entries", "1 signed checkpoint", "run key SHA256:", "egress attestation: passed in")

	var ok struct {
		Status      string         `json:"status"`
		Verified    bool           `json:"verified"`
		Entries     int            `json:"entries"`
		Checkpoints int            `json:"checkpoints"`
		Kinds       map[string]int `json:"kinds"`
		Problems    []struct {
			Kind string `json:"kind"`
			Seq  uint64 `json:"seq"`
		} `json:"problems"`
	}
	res = e.mustRun(0, "audit", "--json", name)
	if err := json.Unmarshal([]byte(res.stdout), &ok); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, res)
	}
	if ok.Status != "ok" || !ok.Verified || ok.Entries != 15 || ok.Checkpoints != 1 || ok.Kinds["run.created"] != 1 || len(ok.Problems) != 0 {
		t.Errorf("audit --json of a good log: got %+v", ok)
	}

	bundle := filepath.Join(t.TempDir(), "bundle.json")
	e.mustRun(0, "audit", name, "--export", bundle)

	// Edit the third entry by hand, as someone covering their tracks would.
	log := filepath.Join(e.runsDir(), r.ID, "proxy", "audit.jsonl")
	lines := strings.SplitAfter(string(raw), "\n")
	lines[2] = strings.Replace(lines[2], `"container_id":"`, `"container_id":"0`, 1)
	if err := os.WriteFile(log, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	res = e.run("audit", name)
	if res.code != 1 {
		t.Errorf("audit of an edited log: exit %d, want 1:\n%s", res.code, res)
	}
	mustContain(t, "stdout", res.stdout, "TAMPERED", "entry 3 (line 3)")
	res = e.run("audit", "--json", name)
	var bad = ok
	bad.Problems = nil
	if err := json.Unmarshal([]byte(res.stdout), &bad); err != nil || res.code != 1 {
		t.Fatalf("audit --json of an edited log: exit %d, %v\n%s", res.code, err, res)
	}
	if bad.Status != "tampered" || bad.Verified || len(bad.Problems) != 1 || bad.Problems[0].Kind != "tampered" || bad.Problems[0].Seq != 3 {
		t.Errorf("audit --json of an edited log: got %+v", bad)
	}

	e.mustRun(0, "destroy", name)
	res = e.mustRun(0, "audit", "verify", bundle)
	mustContain(t, "stdout", res.stdout, ": OK\n", "run.created 1")
}

// TestAuditAfterCLICrash kills the CLI during a run: the next moat command
// finishes the run, and the log verifies and is closed.
func TestAuditAfterCLICrash(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)
	p := e.start("run", "-n", name, ws, "--", "sh", "-c", "until [ -e /workspace/release ]; do sleep 0.1; done; exit 4")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the attached moat run's stderr:\n%s", p.stderr)
		}
	})
	r := e.waitState(name, "running")
	p.signal(syscall.SIGKILL)
	p.wait(waitTimeout)
	res := e.mustRun(0, "audit", name) // the run is still going: open, but sound
	mustContain(t, "stdout", res.stdout, "OK so far")
	release(t, ws)
	e.waitState(name, "exited")
	res = e.mustRun(0, "audit", name)
	mustContain(t, "stdout", res.stdout, ": OK\n")
	if got := auditKinds(t, e, r.ID); !slices.Contains(got, "container.exited") || got[len(got)-1] != "checkpoint" {
		t.Errorf("after the crash: events %v, want the exit recorded by the next moat process and a closing checkpoint", got)
	}
}
