//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileAgentState: an agent's state directory is kept in the moat
// home between runs, so the agent of one run writes what the next run
// (and moat) meets. The agent plants links to the host's root and to the
// moat home there, tries to replace the directory and to rewrite the
// managed instructions moat mounts, and appends to them through /proc.
// Every write to the instructions fails; at the next run the links are
// still plain links in the state directory (moat followed none), resolve
// inside the container, the note is moat's, and nothing outside the
// state directory changed: the moat home's keys are as they were.
func TestHostileAgentState(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	e.writeConfig("npm_registry: " + npmRegistryFor(t, "claude-code") + "\n")
	ws := e.workspace(map[string]string{"agent.yaml": "agent: claude\n"})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	e.mustRun(0, "run", ws, "--", "true") // makes the moat home's keys
	keysBefore := treeDigest(t, filepath.Join(e.home, "keys"))
	attack := `mv /home/moat/.claude /home/moat/.moved 2>/dev/null && echo MOVED-STATE
rm -rf /home/moat/.claude 2>/dev/null; [ -d /home/moat/.claude ] || echo REMOVED-STATE
cd /home/moat/.claude
ln -s / hostroot
ln -s ` + e.home + ` moathome
ln -s ` + e.home + `/keys keys
echo planted > marker
echo hijack > /etc/claude-code/CLAUDE.md 2>/dev/null && echo WROTE-NOTE
echo hijack >> /etc/claude-code/CLAUDE.md 2>/dev/null && echo APPENDED-NOTE
rm -f /etc/claude-code/CLAUDE.md 2>/dev/null && echo REMOVED-NOTE
echo hijack >> /proc/self/root/etc/claude-code/CLAUDE.md 2>/dev/null && echo PROC-NOTE
echo done`
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", attack)
	mustContain(t, "stdout", res.stdout, "done")
	for _, bad := range []string{"MOVED-STATE", "REMOVED-STATE", "WROTE-NOTE", "APPENDED-NOTE", "REMOVED-NOTE", "PROC-NOTE"} {
		if strings.Contains(res.stdout, bad) {
			t.Errorf("the agent could: %s\n%s", bad, res)
		}
	}

	// On the host: the state directory holds the agent's links, as links.
	states, _ := filepath.Glob(filepath.Join(e.home, "agent-state", "claude", "*", ".claude"))
	if len(states) != 1 {
		t.Fatalf("agent state directories %v, want one for the workspace", states)
	}
	for _, l := range []string{"hostroot", "moathome", "keys"} {
		fi, err := os.Lstat(filepath.Join(states[0], l))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s in the state directory: %v, want the agent's link left as a link", l, err)
		}
	}

	// The next run: the note is moat's, the links point inside the
	// container, the marker survived.
	res = e.mustRun(0, "run", ws, "--", "sh", "-c",
		`cat /etc/claude-code/CLAUDE.md; cat /home/moat/.claude/marker; ls /home/moat/.claude/moathome/keys 2>&1 | head -1`)
	mustContain(t, "second run", res.stdout, "You are running in a moat sandbox", "planted", "No such file")
	if strings.Contains(res.stdout, "hijack") {
		t.Errorf("the agent's words reached the next run's instructions:\n%s", res)
	}
	// Cleaning keeps the state and says where it is (a dry run: clean
	// works engine-wide, and other tests run alongside).
	res = e.mustRun(0, "clean", "--dry-run")
	mustContain(t, "clean", res.stderr, "Kept: agents' sessions and settings", filepath.Join(e.home, "agent-state"))
	if _, err := os.Lstat(filepath.Join(states[0], "marker")); err != nil {
		t.Errorf("the agent's state after moat clean: %v", err)
	}
	if after := treeDigest(t, filepath.Join(e.home, "keys")); after != keysBefore || keysBefore == "" {
		t.Errorf("the moat home's keys changed during the runs:\nbefore:\n%s\nafter:\n%s", keysBefore, after)
	}
}

// treeDigest lists the names, modes and sizes under dir, to tell whether
// anything there changed.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			b.WriteString(p + " " + fi.Mode().String() + " " + fi.ModTime().String() + "\n")
		}
		return nil
	})
	return b.String()
}
