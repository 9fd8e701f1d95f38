//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// SSH grants in runs (issue 17), with OpenSSH on both sides: the servers
// and keys are sshd_test.go's. In a run, network.hosts maps git-a.test and
// git-b.test to the host's loopback, where the proxy (in the host's network
// namespace) reaches the servers' published ports; the grants pin each
// server's host key under that name and port.

// sshDeps are the dependencies of every SSH run: git and OpenSSH's client.
var sshDeps = []string{"git", "ssh"}

// grantSSHKey stores the ssh grant name: key's file, for host on s's port,
// with s's host key pinned.
func (e *moatEnv) grantSSHKey(name string, key sshKey, s *sshServer, host string) {
	e.t.Helper()
	res := e.mustRun(0, "grant", "ssh", name, "--host", s.hostPort(host), "--key", key.path, "--host-key", s.pin(host))
	mustContain(e.t, "moat grant ssh's report", res.stderr, key.fingerprint)
}

// sshWorkspace is a workspace whose agent.yaml maps both server names to
// the host's loopback and adds extra (grants, allow rules). It belongs to
// uid 1000, the agent's user, which writes its results there.
func (e *moatEnv) sshWorkspace(extra string) string {
	e.t.Helper()
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [" + strings.Join(sshDeps, ", ") + "]\n" +
		"network:\n  hosts: {git-a.test: 127.0.0.1, git-b.test: 127.0.0.1}\n" + extra})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// sshConfigScript is the shell that gives the agent's ssh the servers'
// ports (its own ~/.ssh/config, as a user would write it; moat's settings
// come after it, from /etc/ssh/ssh_config.d).
func sshConfigScript(ports map[string]*sshServer) string {
	var b strings.Builder
	for _, host := range slices.Sorted(maps.Keys(ports)) {
		fmt.Fprintf(&b, `Host %s\n  Port %s\n`, host, ports[host].port)
	}
	return `mkdir -p ~/.ssh && printf '` + b.String() + `' > ~/.ssh/config`
}

// sshSign is one ssh.sign event of a run's audit log.
type sshSign struct{ Grant, Host, Key, Verdict, Reason string }

// sshSignEvents reads the ssh.sign events of run runID's audit log.
func sshSignEvents(t *testing.T, e *moatEnv, runID string) []sshSign {
	t.Helper()
	f, err := os.Open(filepath.Join(e.runsDir(), runID, "proxy", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sshSign
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var entry struct {
			Kind string
			Data map[string]string
		}
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if entry.Kind == "ssh.sign" {
			d := entry.Data
			out = append(out, sshSign{Grant: d["grant"], Host: d["host"], Key: d["key"], Verdict: d["verdict"], Reason: d["reason"]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// listedKeys returns the keys 'ssh-add -L' printed, without comments.
func listedKeys(out string) []string {
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], "ssh-") {
			keys = append(keys, f[0]+" "+f[1])
		}
	}
	return keys
}

// waitDone waits for the run's command to touch ws/done and returns the
// run as listed.
func (e *moatEnv) waitDone(ws, name string) runRecord {
	e.t.Helper()
	waitForDetail(e.t, 3*time.Minute, "the run's commands", func() bool { return exists(filepath.Join(ws, "done")) },
		func() string { return e.run("logs", name).String() })
	return e.find(name)
}

var commitLine = regexp.MustCompile(`(?m)^[0-9a-f]{40}$`)

// TestSSHGrantClonePushOnlyToGrantedHost runs git and OpenSSH in a run
// granted key A for server A. Clone and push to A work with the key kept
// outside the container; the agent lists key A alone; A's key gets no
// signature for server B (which lets key A in, and whose host key the
// agent trusts in its own known_hosts), nor for a client that does not
// bind its session (ssh-keygen -Y sign). No form of either private key is
// anywhere in the container. The audit log records each signature and
// refusal, 'moat audit' verifies it, and 'moat trace' shows them.
func TestSSHGrantClonePushOnlyToGrantedHost(t *testing.T) {
	t.Parallel()
	needImage(t, sshDeps...)
	keyA, keyB := newSSHKey(t), newSSHKey(t)
	a, b := newSSHServer(t, keyA.pub, keyB.pub), newSSHServer(t, keyA.pub, keyB.pub)
	e := newMoat(t)
	e.grantSSHKey("ssh-a", keyA, a, "git-a.test")
	ws := e.sshWorkspace("  allow: [\"" + b.hostPort("git-b.test") + "\"]\ngrants: [ssh-a]\n")
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c", strings.Join([]string{
		sshConfigScript(map[string]*sshServer{"git-a.test": a, "git-b.test": b}),
		`echo '` + b.pin("git-b.test") + `' > ~/.ssh/known_hosts`,
		`ssh-add -L > keys.out 2>&1`,
		`git clone -q git@git-a.test:repo.git clone > clone.out 2>&1 && cat clone/README >> clone.out`,
		`(cd clone && git -c user.name=e2e -c user.email=e2e@test commit -q --allow-empty -m from-the-run &&
		  git push -q origin HEAD:refs/heads/from-the-run && git rev-parse HEAD) > push.out 2>&1`,
		`ssh -o BatchMode=yes git@git-b.test git-upload-pack repo.git < /dev/null > b.out 2>&1; echo "exit $?" >> b.out`,
		`ssh-add -L > a.pub; echo data > tosign; ssh-keygen -Y sign -n file -f a.pub tosign > unbound.out 2>&1; echo "exit $?" >> unbound.out`,
		`touch done; sleep 300`,
	}, "\n"))
	r := e.waitDone(ws, name)

	if got := listedKeys(readFile(t, ws, "keys.out")); !slices.Equal(got, []string{keyA.blob()}) {
		t.Errorf("ssh-add -L in the run lists %q, want key A alone (%s)", got, keyA.blob())
	}
	mustContain(t, "the clone from A", readFile(t, ws, "clone.out"), "cloned-over-ssh")
	pushed := commitLine.FindString(readFile(t, ws, "push.out"))
	if got := a.refs(t)["refs/heads/from-the-run"]; pushed == "" || got != pushed {
		t.Errorf("server A's refs/heads/from-the-run is %q, want the run's commit; the run's push said:\n%s", got, readFile(t, ws, "push.out"))
	}
	bOut := readFile(t, ws, "b.out")
	mustContain(t, "ssh to B with key A", bOut, "Permission denied (publickey)", "exit 255")
	unbound := readFile(t, ws, "unbound.out")
	if strings.Contains(unbound, "exit 0") || exists(filepath.Join(ws, "tosign.sig")) {
		t.Errorf("ssh-keygen -Y sign, which binds no session, got a signature:\n%s", unbound)
	}

	secrets := append(keyA.secrets(t), keyB.secrets(t)...)
	scanForSecrets(t, r.ID, secrets, "cloned-over-ssh")

	e.mustRun(0, "stop", name)
	events := sshSignEvents(t, e, r.ID)
	var signed, refusedB, refusedUnbound int
	for _, ev := range events {
		switch {
		case ev.Verdict == "signed" && ev.Grant == "ssh-a" && ev.Key == keyA.fingerprint && ev.Host == a.hostPort("git-a.test"):
			signed++
		case ev.Verdict == "signed":
			t.Errorf("a signature for anything but ssh-a on git-a.test: %+v", ev)
		case ev.Reason == "host not granted for this key" && ev.Key == keyA.fingerprint && ev.Host == b.hostPort("git-b.test"):
			refusedB++
		case ev.Reason == "session not bound":
			refusedUnbound++
		}
	}
	// Clone and push: one signature each.
	if signed < 2 || refusedB == 0 || refusedUnbound == 0 {
		t.Errorf("ssh.sign events: %d signed for git-a.test (want clone's and push's), %d refused for B, %d refused unbound:\n%+v",
			signed, refusedB, refusedUnbound, events)
	}
	res := e.mustRun(0, "audit", name)
	mustContain(t, "moat audit", res.stdout, ": OK\n", "ssh.sign")
	var traced []struct{ Kind, Host, Grant, Key, Decision string }
	res = e.mustRun(0, "trace", name, "--json")
	if err := json.Unmarshal([]byte(res.stdout), &traced); err != nil {
		t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	var inTrace []string
	for _, q := range traced {
		if q.Kind == "ssh-sign" && q.Key == keyA.fingerprint {
			inTrace = append(inTrace, q.Decision)
		}
	}
	for _, want := range []string{"signed", "refused: host not granted for this key", "refused: session not bound"} {
		if !slices.Contains(inTrace, want) {
			t.Errorf("moat trace --json shows key A's signatures as %q, want %q among them:\n%s", inTrace, want, res.stdout)
		}
	}

	// Neither key is in anything the run left on the host either.
	found := scanFiles(t, filepath.Join(e.runsDir(), r.ID)+"/", secrets)
	for i, s := range secrets {
		if len(found[s]) > 0 {
			t.Errorf("the run's files on the host hold secret %d: %v", i, found[s])
		}
	}
}

// TestSSHGrantAgentHeldKey grants key B held by an ssh-agent on the host,
// which holds key C too: the run lists key B alone, clones from server B
// with it, and no form of either key is anywhere in the container.
func TestSSHGrantAgentHeldKey(t *testing.T) {
	t.Parallel()
	needImage(t, sshDeps...)
	keyB, keyC := newSSHKey(t), newSSHKey(t)
	b := newSSHServer(t, keyB.pub, keyC.pub)
	hostAgent := newHostAgent(t)
	hostAgent.add(t, keyB)
	hostAgent.add(t, keyC)
	e := newMoat(t)
	e.env = append(e.env, "SSH_AUTH_SOCK="+hostAgent.sock)
	res := e.mustRun(0, "grant", "ssh", "ssh-b", "--agent-key", keyB.fingerprint, "--host", b.hostPort("git-b.test"), "--host-key", b.pin("git-b.test"))
	mustContain(t, "moat grant ssh's report", res.stderr, keyB.fingerprint, "ssh-agent")
	ws := e.sshWorkspace("grants: [ssh-b]\n")
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c", strings.Join([]string{
		sshConfigScript(map[string]*sshServer{"git-b.test": b}),
		`ssh-add -L > keys.out 2>&1`,
		`git clone -q git@git-b.test:repo.git clone > clone.out 2>&1 && cat clone/README >> clone.out`,
		`touch done; sleep 300`,
	}, "\n"))
	r := e.waitDone(ws, name)

	if got := listedKeys(readFile(t, ws, "keys.out")); !slices.Equal(got, []string{keyB.blob()}) {
		t.Errorf("ssh-add -L in the run lists %q, want key B alone (%s), not the host agent's key C", got, keyB.blob())
	}
	mustContain(t, "the clone from B", readFile(t, ws, "clone.out"), "cloned-over-ssh")
	scanForSecrets(t, r.ID, append(keyB.secrets(t), keyC.secrets(t)...), "cloned-over-ssh")

	e.mustRun(0, "stop", name)
	events := sshSignEvents(t, e, r.ID)
	if !slices.ContainsFunc(events, func(ev sshSign) bool {
		return ev.Verdict == "signed" && ev.Grant == "ssh-b" && ev.Key == keyB.fingerprint && ev.Host == b.hostPort("git-b.test")
	}) {
		t.Errorf("no ssh.sign event signed for ssh-b on git-b.test:\n%+v", events)
	}
}

// TestSSHGrantRefusals runs, in the foreground, a run granted key A for
// server A under a host key server A does not have (as if the connection
// were intercepted): ssh refuses the server, and no signature is made; an
// ssh to a host the policy does not allow is refused by the proxy with
// moat's explanation. Nothing of the run is left after it (the harness's
// cleanup checks).
func TestSSHGrantRefusals(t *testing.T) {
	t.Parallel()
	needImage(t, sshDeps...)
	keyA, impostor := newSSHKey(t), newSSHKey(t)
	a := newSSHServer(t, keyA.pub)
	e := newMoat(t)
	wrongPin := fmt.Sprintf("[git-a.test]:%s %s", a.port, impostor.blob())
	e.mustRun(0, "grant", "ssh", "ssh-a", "--host", a.hostPort("git-a.test"), "--key", keyA.path, "--host-key", wrongPin)
	ws := e.sshWorkspace("grants: [ssh-a]\n")
	e.mustRun(0, "run", ws, "--", "sh", "-c", strings.Join([]string{
		sshConfigScript(map[string]*sshServer{"git-a.test": a}),
		`git ls-remote git@git-a.test:repo.git > wrongkey.out 2>&1; echo "exit $?" >> wrongkey.out`,
		`ssh -o BatchMode=yes git@git-c.test true < /dev/null > denied.out 2>&1; echo "exit $?" >> denied.out`,
	}, "\n"))
	r := e.onlyRun()

	wrong := readFile(t, ws, "wrongkey.out")
	mustContain(t, "git ls-remote against the wrong pin", wrong, "Host key verification failed")
	if strings.Contains(wrong, "exit 0") {
		t.Errorf("git ls-remote got through a host key the grant does not pin:\n%s", wrong)
	}
	denied := readFile(t, ws, "denied.out")
	mustContain(t, "ssh to a host the policy does not allow", denied, "moat: the run's proxy refused SSH to git-c.test:22")
	if strings.Contains(denied, "exit 0") {
		t.Errorf("ssh to git-c.test got through:\n%s", denied)
	}
	for _, ev := range sshSignEvents(t, e, r.ID) {
		if ev.Verdict == "signed" {
			t.Errorf("a signature in a run whose only server is not the pinned one: %+v", ev)
		}
	}
}
