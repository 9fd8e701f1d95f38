//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ignoresTerm is a command that ignores SIGTERM, as an agent busy with
// something may: only SIGKILL ends it. "ready" says the trap is set.
var ignoresTerm = []string{"sh", "-c", `trap "" TERM; echo ready; sleep 600 & wait; sleep 600`}

// TestInterruptTwice presses Ctrl-C on a foreground run whose command
// ignores SIGTERM, on a real terminal: moat says it is stopping the run,
// how long it waits and that a second Ctrl-C kills; the second one does.
// The test hook makes the wait 10 minutes, longer than the test waits, so
// only the kill can end the command (137, SIGKILL) in time, and a kill
// that did not happen shows as moat's warning when its cleanup gives up.
func TestInterruptTwice(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	e.env = append(e.env, "MOAT_TEST_INTERRUPT_GRACE=10m")
	ws := userWorkspace(t, e, agentYAML(""))
	name := uniqueName(t)

	term := e.newTmux(ws, append([]string{moatBin, "run", "-n", name, ws, "--"}, ignoresTerm...)...)
	term.waitFor(waitTimeout, "the command to start", "ready")
	term.keys("C-c")
	term.waitFor(waitTimeout, "moat to say it is stopping the run",
		"moat: stopping run "+name+" (waiting up to 10m0s for the command to exit; press Ctrl-C again to kill it)")
	term.keys("C-c")
	term.waitFor(waitTimeout, "moat to exit", "command-exit=130")
	screen := term.screen()
	mustContain(t, "the terminal", screen, "moat: killing run "+name+"\n", "moat: received interrupt\n")
	if strings.Contains(screen, "warning") {
		t.Errorf("the terminal shows a warning:\n%s", screen)
	}
	if r := e.find(name); r.State != "stopped" || r.exitCode() != "137" {
		t.Errorf("the run is %s with exit code %s, want stopped by SIGKILL (137):\n%s", r.State, r.exitCode(), screen)
	}
}

// TestInteractiveRunBuildOnACookedTerminal starts 'moat run -it' on a real
// terminal with an image to build (a project Dockerfile of the test's own,
// whose step sleeps): the terminal is not raw before the run is attached,
// so what moat prints reads as lines and Ctrl-C during the build
// interrupts moat (in raw mode it would be a byte waiting for the
// command): no run is created and the command never starts.
func TestInteractiveRunBuildOnACookedTerminal(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	name := uniqueName(t)
	ws := userWorkspace(t, e, map[string]string{
		"agent.yaml": "dockerfile: Dockerfile\n",
		"Dockerfile": "FROM " + baseImage + "\nRUN echo " + name + " && sleep 300\n",
	})
	e.mustRun(0, "trust", "--yes", ws)
	term := e.startTmux(moatBin, "run", "-it", "-n", name, ws, "--", "sh", "-c", "echo command-started; sleep 600")
	// The Dockerfile's RUN step, which echoes the name (moat adds LABEL
	// steps after it).
	term.waitFor(waitTimeout, "the build's sleeping step", ": "+name)
	term.keys("C-c")
	term.waitFor(waitTimeout, "moat to exit after Ctrl-C", "command-exit=130")
	screen := term.screen()
	if strings.Contains(screen, "command-started") {
		t.Errorf("the command started after Ctrl-C during the build:\n%s", screen)
	}
	if res := e.mustRun(0, "list", "-a", "-q", "--filter", "name="+name); strings.TrimSpace(res.stdout) != "" {
		t.Errorf("Ctrl-C during the build left a run %s:\n%s", res.stdout, screen)
	}
}

// TestStopForegroundRun stops a run in the foreground of a real terminal
// from another process ('moat stop', as from another terminal): both
// processes finish the run, and the one that loses says nothing. The
// attached terminal shows the command's exit (SIGTERM: 143) and no
// warning.
func TestStopForegroundRun(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := userWorkspace(t, e, agentYAML(""))
	name := uniqueName(t)

	term := e.newTmux(ws, moatBin, "run", "-n", name, ws, "--", "sh", "-c", "echo ready; exec sleep 600")
	term.waitFor(waitTimeout, "the command to start", "ready")
	stop := e.mustRun(0, "stop", name)
	term.waitFor(waitTimeout, "moat run to exit", "command-exit=")
	screen := term.screen()
	mustContain(t, "the terminal", screen, "command-exit=143")
	for _, bad := range []string{"warning", "conflict", "moat:"} {
		if strings.Contains(screen, bad) {
			t.Errorf("the attached terminal shows %q:\n%s", bad, screen)
		}
	}
	if strings.Contains(stop.stderr, "warning") {
		t.Errorf("moat stop warned:\n%s", stop)
	}
	if r := e.find(name); r.active() || r.exitCode() != "143" {
		t.Errorf("the run is %s with exit code %s, want ended by SIGTERM (143)", r.State, r.exitCode())
	}
}

// TestStopTimeZero stops a detached run whose command ignores SIGTERM
// with 'moat stop -t 0': it is killed (137) without the 10 seconds of
// grace the default gives, which is what the bound tells apart.
func TestStopTimeZero(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)

	e.track(strings.TrimSpace(e.mustRun(0, append([]string{"run", "-d", "-n", name, ws, "--"}, ignoresTerm...)...).stdout))
	waitForDetail(t, waitTimeout, "the command to start", func() bool {
		return strings.Contains(e.run("logs", name).stdout, "ready")
	}, func() string { return e.run("logs", name).String() })
	stop := e.mustRun(0, "stop", "-t", "0", name)
	if stop.took >= 10*time.Second {
		t.Errorf("moat stop -t 0 took %s: it waited for the default grace", stop.took)
	}
	if r := e.find(name); r.State != "stopped" || r.exitCode() != "137" {
		t.Errorf("the run is %s with exit code %s, want stopped by SIGKILL (137):\n%s", r.State, r.exitCode(), stop)
	}
}

// TestBlockedSummary runs a strict workload that reaches a host its
// policy does not allow and a private address: at the end moat prints on
// stderr what was blocked, the network.allow line that allows the host
// and why the address gets none, as 'moat policy suggest' says. A run
// that was refused nothing prints no summary.
func TestBlockedSummary(t *testing.T) {
	t.Parallel()
	needImage(t, "curl")
	e := newMoat(t)
	ws := e.workspace(agentYAML("curl"))
	name := uniqueName(t)

	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c",
		"curl -sS -m 20 https://pypi.org/simple/ || echo refused; curl -sS -m 20 https://10.77.0.1:9/ || echo refused")
	mustContain(t, "the run's stderr", res.stderr,
		"The network policy blocked 2 requests of run "+name+":\n",
		"  10.77.0.1:9   1 request  not suggested: 10.77.0.1 is a private address (RFC 1918)\n  pypi.org:443  1 request\n",
		"These network.allow lines in agent.yaml would allow them:\n    - pypi.org\n",
		"'moat policy suggest "+name+"' writes them as a diff of agent.yaml; 'moat trace "+name+"' shows every request.\n")
	if strings.Contains(res.stdout, "blocked") || res.stdout != "refused\nrefused\n" {
		t.Errorf("stdout holds more than the command's output:\n%s", res)
	}
	// The same rule as the suggestion's.
	mustContain(t, "moat policy suggest", e.mustRun(0, "policy", "suggest", name).stdout, "+    - pypi.org\n")

	quiet := e.mustRun(0, "run", ws, "--", "true")
	if strings.Contains(quiet.stderr, "blocked") {
		t.Errorf("a run that was refused nothing printed a summary:\n%s", quiet)
	}
}

// TestTraceFollow follows a detached run's trace: 'moat trace -f' prints
// the request made before it started, then one the run makes once the
// test has seen that, and exits 0 when the run ends by itself.
func TestTraceFollow(t *testing.T) {
	t.Parallel()
	needImage(t, "curl")
	e := newMoat(t)
	ws := e.workspace(agentYAML("curl"))
	name := uniqueName(t)

	e.track(strings.TrimSpace(e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c",
		"curl -sS -m 20 https://first.example/; until [ -e /workspace/go ]; do sleep 0.1; done; curl -sS -m 20 https://second.example/; exit 0").stdout))
	follower := e.start("trace", "-f", name)
	waitForDetail(t, waitTimeout, "trace -f to print the first request", func() bool {
		return strings.Contains(follower.stdout.String(), "first.example:443")
	}, follower.stdout.String)
	if strings.Contains(follower.stdout.String(), "second.example") {
		t.Fatalf("the second request is there before the run made it:\n%s", follower.stdout)
	}
	if err := os.WriteFile(filepath.Join(ws, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := follower.wait(waitTimeout)
	if res.code != 0 {
		t.Fatalf("trace -f: exit %d:\n%s", res.code, res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME\tMETHOD\tURL") || !strings.Contains(lines[1], "\tCONNECT\tfirst.example:443\t403\t") ||
		!strings.Contains(lines[2], "\tCONNECT\tsecond.example:443\t403\t") {
		t.Errorf("trace -f printed:\n%s\nwant the header, then both refused requests in order", res.stdout)
	}
	if r := e.find(name); r.active() {
		t.Errorf("trace -f ended while the run is %s", r.State)
	}
	if res := e.run("trace", "-f", "--json", name); res.code != 2 {
		t.Errorf("trace -f --json: exit %d, want 2 (usage):\n%s", res.code, res)
	}
}

// userWorkspace is a workspace that belongs to a regular user, as a
// user's does: moat warns about one that belongs to root, and the tests
// that use this one check that the terminal shows no warning.
func userWorkspace(t *testing.T, e *moatEnv, files map[string]string) string {
	t.Helper()
	ws := e.workspace(files)
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	return ws
}

// keys presses keys on the terminal, in tmux's names (C-c is Ctrl-C).
func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	args := append([]string{"-L", s.socket, "send-keys", "-t", "main"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys %v: %v\n%s", keys, err, out)
	}
}
