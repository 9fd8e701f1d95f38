//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The tests in this file are an agent that tries to starve the machine:
// a fork bomb, a memory hog. The user's config.yaml sets small limits; the
// engine must enforce them on the agent's container, and the test must end
// (a host that stopped answering would time it out).

// setLimits writes the moat home's config.yaml: the harness's BuildKit
// image and limits, a YAML flow mapping.
func (e *moatEnv) setLimits(limits string) {
	e.t.Helper()
	data := "buildkit_image: " + buildkitImageID + "\nlimits: " + limits + "\n"
	if err := os.WriteFile(filepath.Join(e.home, "config.yaml"), []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// runLimits reads the limits in the only run's record.
func (e *moatEnv) runLimits() (l struct{ Memory, Pids int64 }) {
	e.t.Helper()
	id := e.onlyRun().ID
	data, err := os.ReadFile(filepath.Join(e.runsDir(), id, "metadata.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var rec struct {
		Limits struct {
			Memory int64 `json:"memory"`
			Pids   int64 `json:"pids"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		e.t.Fatal(err)
	}
	l.Memory, l.Pids = rec.Limits.Memory, rec.Limits.Pids
	return l
}

// forkBomb forks up to 1000 sleeping children, stops at the first fork
// that fails, reports how many it got and why it stopped, then kills them:
// bounded, so the test ends even on an engine that enforces nothing.
const forkBomb = `my @kids;
for (1..1000) { my $p = fork; last unless defined $p; if ($p == 0) { sleep 120; exit 0 } push @kids, $p }
my $why = scalar(@kids) < 1000 ? "$!" : "no limit";
print "forked ", scalar(@kids), " ($why)\n";
kill "KILL", @kids; waitpid($_, 0) for @kids;`

func TestHostileLimitsForkBomb(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	e.setLimits("{pids: 128}")
	ws := e.workspace(map[string]string{"README": "fork bomb\n"})
	res := e.mustRun(0, "run", "-n", uniqueName(t), ws, "--", "perl", "-e", forkBomb)
	m := regexp.MustCompile(`forked (\d+) \((.*)\)`).FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("no fork count in the output:\n%s", res)
	}
	n, _ := strconv.Atoi(m[1])
	if n >= 128 || n == 0 {
		t.Errorf("the agent forked %d processes with pids: 128 (%s), want fewer than 128 and more than 0", n, m[2])
	}
	mustContain(t, "why the fork bomb stopped", m[2], "Resource temporarily unavailable")
	if got := e.runLimits().Pids; got != 128 {
		t.Errorf("the run's record has pids limit %d, want 128", got)
	}
}

func TestHostileLimitsMemoryHog(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	e.setLimits("{memory: 128m}")
	ws := e.workspace(map[string]string{"README": "memory hog\n"})
	// tail keeps its last line in memory, and /dev/zero has no newline:
	// it grows to 512 MiB unless the engine stops it.
	hog := `head -c 512M /dev/zero | tail > /dev/null; echo "tail exited $?"`
	res := e.mustRun(0, "run", "-n", uniqueName(t), ws, "--", "sh", "-c", hog)
	mustContain(t, "the memory hog's end", res.stdout, "tail exited 137") // SIGKILL from the OOM killer
	if got := e.runLimits().Memory; got != 128<<20 {
		t.Errorf("the run's record has memory limit %d, want %d", got, 128<<20)
	}
}

// TestHostileLimitsApplied checks what the engine applied to the agent and
// its proxy sidecar, that agent.yaml may lower the user's limits, and that
// it may not raise them.
func TestHostileLimitsApplied(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	e.setLimits("{memory: 256m, cpus: 1, pids: 256}")

	greedy := e.workspace(map[string]string{"agent.yaml": "resources:\n  pids: 100000\n"})
	res := e.mustRun(125, "run", greedy, "--", "true")
	mustContain(t, "the error for a greedy agent.yaml", res.stderr,
		"agent.yaml:2:9", "resources.pids: 100000 is more than the 256", filepath.Join(e.home, "config.yaml"), "limits")
	if len(e.list()) != 0 {
		t.Errorf("a refused run left a record: %v", e.list())
	}

	ws := e.workspace(map[string]string{"agent.yaml": "resources: {memory: 192m, cpus: 0.5, pids: 200}\n"})
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "300")
	rec := e.waitState(name, "running")
	agent, proxy := "moat-"+rec.ID, "moat-"+rec.ID+"-proxy"
	const hostCfg = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
	for _, c := range []struct{ name, want string }{
		{agent, "201326592 201326592 500000000 200"},
		{proxy, "268435456 268435456 1000000000 256"},
	} {
		got, err := docker(t, "inspect", "-f", hostCfg, c.name)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: memory, memory+swap, nano CPUs, pids: got %q, want %q", c.name, got, c.want)
		}
	}
	// What the kernel enforces (cgroup v1 here; v2 names the files
	// differently).
	got, err := docker(t, "exec", agent, "sh", "-c",
		"cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(got); len(f) != 2 || f[0] != "200" || f[1] != "201326592" {
		t.Errorf("the agent's cgroup: pids.max and memory limit %q, want 200 and 201326592", got)
	}
	out := e.mustRun(0, "list", "-a", "--json").stdout
	var runs []struct {
		Name   string          `json:"name"`
		Limits json.RawMessage `json:"limits"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("moat list --json: %v\n%s", err, out)
	}
	var limits bytes.Buffer
	json.Compact(&limits, runs[0].Limits)
	if want := `{"memory":201326592,"cpus":0.5,"pids":200}`; limits.String() != want {
		t.Errorf("moat list --json limits: got %s, want %s", limits.String(), want)
	}
	e.mustRun(0, "stop", name)
}

// TestHostileLimitsDind checks that a docker:dind run's inner containers
// live inside the agent's limits: a fork bomb in an inner container, which
// has no limit of its own, stops at the agent's pids limit.
func TestHostileLimitsDind(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	e.setLimits("{pids: 200}")
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [docker:dind]\ndocker: {buildkit: false}\n"})
	// The inner daemon has no images and no registry: import a tiny one
	// (dash and sleep) from the agent's own root.
	script := `tar -h -C / -c bin/dash bin/sleep lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2 2>/dev/null | docker import - tiny >/dev/null || exit 3
docker run --rm tiny /bin/dash -c 'i=0; while [ $i -lt 400 ]; do /bin/sleep 30 & i=$((i+1)); done; echo started $i' 2>&1`
	// dash exits 2 when it cannot fork; docker run passes that on.
	res := e.mustRun(2, "run", "-n", uniqueName(t), ws, "--", "sh", "-c", script)
	if strings.Contains(res.stdout, "started 400") {
		t.Errorf("an inner container started 400 processes under the agent's pids: 200:\n%s", res)
	}
	mustContain(t, "the inner fork bomb's end", res.stdout, "Cannot fork")
}
