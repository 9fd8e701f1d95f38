//go:build e2e

package e2e

import (
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitPushPolicy runs the real git client in a run whose agent.yaml
// says `git-push: ["agent/*"]`, against git http-backend over TLS on the
// host: clone works, a push to agent/work lands, a push to main and the
// deletion of a branch are refused with moat's reason printed by git, and
// the server's refs show only the allowed push. Then the agent, as an
// attacker, rewrites agent.yaml without git-push: the next run is refused
// until the change is approved.
func TestGitPushPolicy(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	repo := bareRepo(t)
	if out, err := exec.Command("git", "-C", repo, "config", "http.receivepack", "true").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	port, ca := serveTLS(t, "127.0.0.1:0", "git.test", &cgi.Handler{Path: gitPath(t), Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"}})
	ws := e.hostileEgressWorkspace("  hosts: {git.test: 127.0.0.1}\n  ca: ca.pem\n  git-push: [\"agent/*\"]\n",
		map[string]string{"ca.pem": ca})
	e.trust(ws)
	url := "https://git.test:" + port + "/repo.git"
	script := `set -u
export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@a GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@a
git clone -q ` + url + ` /tmp/r && cd /tmp/r && git commit -q --allow-empty -m work || exit 9
git push -q origin HEAD:refs/heads/agent/work >/tmp/ok.out 2>&1 && echo push-agent=ok || { echo push-agent=failed; cat /tmp/ok.out; }
git push origin HEAD:main >/tmp/main.out 2>&1 && echo push-main=ok || echo push-main=refused
git push origin :agent/work >/tmp/del.out 2>&1 && echo delete=ok || echo delete=refused
cat /tmp/main.out /tmp/del.out
`
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script)
	mustContain(t, "the run's output", res.stdout, "push-agent=ok", "push-main=refused", "delete=refused",
		"[remote rejected]", "moat: network.git-push allows pushes only to refs/heads/agent/*",
		"moat: deleting a ref is refused by network.git-push")
	out, err := exec.Command("git", "-C", repo, "for-each-ref", "--format=%(refname)").CombinedOutput()
	if err != nil {
		t.Fatal(string(out))
	}
	if got := strings.Join(strings.Fields(string(out)), " "); got != "refs/heads/agent/work refs/heads/main" {
		t.Errorf("the server's refs: %s, want agent/work added and main as it was", got)
	}
	trace := e.mustRun(0, "trace", name, "--json").stdout
	mustContain(t, "trace", trace, "git push to refs/heads/main refused")

	// The agent drops the rule for the next run: that run must not start
	// without the user's approval.
	e.hostileRun(ws, `sed -i '/git-push/d' /workspace/agent.yaml`)
	before := len(e.runDirs())
	res = e.run("run", ws, "--", "true")
	if res.code != 125 {
		t.Fatalf("a run after the agent removed git-push: exit %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "git pushes could update any branch or tag")
	e.assertNoNewRun(before)
}
