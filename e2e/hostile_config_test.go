//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hostile-agent suite: in run N the agent does what an attacker with a
// shell in its container would, then run N+1 is started the way a user
// starts it. Each test asserts that the attack fails and what the user sees.

// agentUID owns the hostile tests' workspaces, so their agent (which runs
// as the workspace's owner) can write them, as a user's agent can.
const agentUID = 4242

// writableWorkspace is an approved workspace the agent can write.
func (e *moatEnv) writableWorkspace(files map[string]string) string {
	e.t.Helper()
	ws := e.workspace(files)
	chownTree(e.t, ws, agentUID)
	return ws
}

func chownTree(t *testing.T, dir string, uid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostileRun runs script as the agent of an approved workspace and expects
// it to succeed: the attack itself is only writing files.
func (e *moatEnv) hostileRun(ws, script string) {
	e.t.Helper()
	e.mustRun(0, "run", ws, "--", "sh", "-c", script)
}

// assertNoNewRun checks that a refused run created no record and no
// container: refusal comes before anything exists.
func (e *moatEnv) assertNoNewRun(before int) {
	e.t.Helper()
	if n := len(e.runDirs()); n != before {
		e.t.Fatalf("a refused run left %d new run records", n-before)
	}
}

// TestHostileAgentYAMLCannotMountMoatHome is the attack the issue verified:
// run 1 adds a mount of the moat home to agent.yaml; run 2 must not start.
func TestHostileAgentYAMLCannotMountMoatHome(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.writableWorkspace(map[string]string{"agent.yaml": "name: " + uniqueName(t) + "\n"})
	e.hostileRun(ws, fmt.Sprintf(`printf 'mounts: ["%s:/loot"]\n' > /workspace/agent.yaml`, e.home))
	before := len(e.runDirs())
	res := e.run("run", ws, "--", "ls", "/loot/keys")
	if res.code != 125 {
		t.Fatalf("got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "is inside the moat home")
	e.assertNoNewRun(before)
	// The same through a link inside the workspace, once the user has put
	// agent.yaml back.
	if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte("name: "+uniqueName(t)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.hostileRun(ws, fmt.Sprintf(`ln -s %s /workspace/cache && printf 'mounts: ["./cache:/loot"]\n' > /workspace/agent.yaml`, e.home))
	res = e.run("run", ws, "--", "ls", "/loot/keys")
	if res.code != 125 {
		t.Fatalf("through a link: got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "outside the workspace")
}

// TestHostileAgentYAMLNeedsApproval: the agent asks for a grant and sends
// it to its own address. Without a terminal the run stops before anything
// is created and says what the change would allow; 'moat trust' shows it.
func TestHostileAgentYAMLNeedsApproval(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.writableWorkspace(map[string]string{"agent.yaml": "name: " + uniqueName(t) + "\n"})
	e.hostileRun(ws, `printf 'grants: [github]\nnetwork:\n  hosts: {api.github.com: 203.0.113.9}\n' > /workspace/agent.yaml`)
	before := len(e.runDirs())
	res := e.run("run", ws, "--", "true")
	if res.code != 125 {
		t.Fatalf("got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr,
		"asks for what you have not approved for this workspace",
		"the credentials of grant github would go to 203.0.113.9",
		"moat trust "+ws)
	e.assertNoNewRun(before)
	review := e.run("trust", ws)
	if review.code == 0 {
		t.Fatalf("moat trust without a terminal approved:\n%s", review)
	}
	mustContain(t, "moat trust", review.stdout, "Not approved yet:", "the credentials of grant github would go to 203.0.113.9")
}

// TestApprovalOnATerminal answers the question a run asks on a terminal:
// no runs nothing, yes runs and remembers.
func TestApprovalOnATerminal(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.untrustedWorkspace(map[string]string{"agent.yaml": "env: {GREETING: from-yaml}\n"})
	line := fmt.Sprintf("%s run %s -- sh -c 'echo greeting=$GREETING'", moatBin, ws)
	res := e.runArgv("n\n", []string{"script", "-qec", line, "/dev/null"})
	mustContain(t, "declined run", res.stdout, "GREETING=from-yaml", "Allow this, and remember it for", "not approved")
	if strings.Contains(res.stdout, "greeting=from-yaml") {
		t.Fatalf("a declined run ran:\n%s", res)
	}
	res = e.runArgv("y\n", []string{"script", "-qec", line, "/dev/null"})
	mustContain(t, "approved run", res.stdout, "greeting=from-yaml")
	// Remembered: no terminal needed now.
	res = e.mustRun(0, "run", ws, "--", "sh", "-c", "echo greeting=$GREETING")
	mustContain(t, "remembered run", res.stdout, "greeting=from-yaml")
}

// TestHostileWorkspaceFiles: the agent replaces agent.yaml with a FIFO (a
// run that read it would hang) and network.ca with a link out of the
// workspace, and retargets an approved mount with a link.
func TestHostileWorkspaceFiles(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	secretDir := t.TempDir()
	os.WriteFile(filepath.Join(secretDir, "ca.pem"), []byte("not for the agent\n"), 0o644)
	ws := e.writableWorkspace(map[string]string{
		"agent.yaml": "mounts: [\"./data:/data:ro\"]\n",
		"data/x":     "x\n",
	})
	e.hostileRun(ws, fmt.Sprintf(`rm -r /workspace/data && ln -s %s /workspace/data`, secretDir))
	res := e.run("run", ws, "--", "cat", "/data/ca.pem")
	if res.code != 125 || strings.Contains(res.stdout, "not for the agent") {
		t.Fatalf("retargeted mount: got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "resolves to "+secretDir+", outside the workspace")

	ws2 := e.writableWorkspace(map[string]string{"agent.yaml": "name: " + uniqueName(t) + "\n"})
	e.hostileRun(ws2, `rm /workspace/agent.yaml && mkfifo /workspace/agent.yaml`)
	res = e.run("run", ws2, "--", "true")
	if res.code != 125 {
		t.Fatalf("FIFO agent.yaml: got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "agent.yaml: cannot be read: not a regular file (a FIFO)")

	ws3 := e.writableWorkspace(map[string]string{"agent.yaml": "name: " + uniqueName(t) + "\n"})
	e.hostileRun(ws3, fmt.Sprintf(`ln -s %s/ca.pem /workspace/ca.pem && printf 'network: {ca: ca.pem}\n' > /workspace/agent.yaml`, secretDir))
	res = e.run("run", ws3, "--", "true")
	if res.code != 125 {
		t.Fatalf("network.ca link: got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "network.ca ca.pem: it leads outside the workspace")
}

// TestWorkspaceHoldingMoatHomeRefused is 'moat run ~': the agent would get
// the moat home as part of its workspace.
func TestWorkspaceHoldingMoatHomeRefused(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	res := e.run("run", filepath.Dir(e.home), "--", "true")
	if res.code != 125 {
		t.Fatalf("got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "contains the moat home")
}

// TestHostileAgentYAMLBomb: run 1 replaces agent.yaml with a megabyte of
// nesting, the shape that made the YAML parser take gigabytes; run 2 is
// refused at once, naming the line and column.
func TestHostileAgentYAMLBomb(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.writableWorkspace(map[string]string{"agent.yaml": "name: " + uniqueName(t) + "\n"})
	e.hostileRun(ws, `head -c 1000000 /dev/zero | tr '\0' '[' > /workspace/agent.yaml`)
	before := len(e.runDirs())
	res := e.run("run", ws, "--", "true")
	if res.code != 125 {
		t.Fatalf("got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "agent.yaml:1:65:", "nest")
	e.assertNoNewRun(before)
}
