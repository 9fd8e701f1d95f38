//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExecIntoARun: 'moat exec' runs a command in a running run as the
// agent's user (no capabilities, no new privileges), with the command's
// exit code, stdin with -i, the run's egress (a blocked host is refused by
// the proxy), and an exec entry in the audit log; a run that has ended
// takes no exec.
func TestExecIntoARun(t *testing.T) {
	t.Parallel()
	needImage(t, "curl")
	e := newMoat(t)
	ws := e.workspace(agentYAML("curl"))
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "300")

	res := e.mustRun(0, "exec", name, "--", "sh", "-c", `id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status`)
	mustContain(t, "exec's identity", res.stdout, "1000\n", "CapEff:\t0000000000000000", "NoNewPrivs:\t1")
	if res := e.run("exec", name, "--", "sh", "-c", "exit 7"); res.code != 7 {
		t.Errorf("exec of 'exit 7' exited %d, want 7:\n%s", res.code, res)
	}
	if res := e.run("exec", name, "--", "no-such-command"); res.code != 127 {
		t.Errorf("exec of a missing command exited %d, want 127:\n%s", res.code, res)
	} else {
		mustContain(t, "exec of a missing command", res.stderr, "no-such-command: command not found in the run's image")
	}
	if res := e.run("exec", name, "--", "/tmp"); res.code != 126 {
		t.Errorf("exec of a directory exited %d, want 126:\n%s", res.code, res)
	} else {
		mustContain(t, "exec of a directory", res.stderr, "/tmp is a directory")
	}
	res = e.mustRun(0, "exec", "-w", "/tmp", name, "--", "pwd")
	mustContain(t, "exec -w /tmp", res.stdout, "/tmp\n")
	for dir, want := range map[string]string{
		"/no-such-dir": "-w /no-such-dir: there is no such directory",
		"/root":        "-w /root: the agent may not enter that directory",
	} {
		if res := e.run("exec", "-w", dir, name, "--", "true"); res.code != 126 || strings.Contains(res.stderr, "OCI runtime") {
			t.Errorf("exec -w %s exited %d, want 126 in moat's words:\n%s", dir, res.code, res)
		} else {
			mustContain(t, "exec -w "+dir, res.stderr, want)
		}
	}
	if res := e.run("exec", "-w", "relative", name, "--", "true"); res.code != 2 {
		t.Errorf("exec -w relative exited %d, want 2 (usage):\n%s", res.code, res)
	}
	// A PATH of the command's own is env(1)'s to search, as in a run.
	e.mustRun(0, "exec", "-e", "PATH=/bin", name, "--", "true")
	res = e.runInput("piped-in\n", "exec", "-i", name, "--", "cat")
	mustContain(t, "exec -i's stdout", res.stdout, "piped-in")
	res = e.run("exec", name, "--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://blocked.test/")
	mustContain(t, "a blocked request from exec", res.stdout, "403")

	e.mustRun(0, "stop", name)
	res = e.run("exec", name, "--", "true")
	if res.code != 1 {
		t.Errorf("exec into an ended run exited %d, want 1:\n%s", res.code, res)
	}
	res = e.mustRun(0, "audit", name)
	mustContain(t, "the audit log", res.stdout, "exec")
}

// TestRunDetachedInteractiveThenAttach: 'moat run -d -it' starts a shell
// in the background; 'moat attach' on a terminal reaches it, ctrl-p
// ctrl-q detaches and leaves it running, and attaching again works.
func TestRunDetachedInteractiveThenAttach(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-it", "-n", name, ws, "--", "sh")

	term := e.newTmux(ws, moatBin, "attach", name)
	term.waitFor(30*time.Second, "attach", "") // the pane is up
	term.keys("echo", "Space", "hi-$((6*7))", "Enter")
	term.waitFor(30*time.Second, "the shell's answer", "hi-42")
	term.keys("C-p", "C-q")
	term.waitFor(30*time.Second, "the detach message", "moat attach "+name)
	term.waitFor(30*time.Second, "attach's exit", "command-exit=0")
	if r := e.find(name); r.State != "running" {
		t.Fatalf("after detaching, the run is %s, want running", r.State)
	}

	again := e.newTmux(ws, moatBin, "attach", name)
	again.keys("echo", "Space", "again-$((6*6))", "Enter")
	again.waitFor(30*time.Second, "the shell's answer after attaching again", "again-36")
	again.keys("exit", "Enter")
	again.waitFor(60*time.Second, "attach's exit when the shell ends", "command-exit=0")
	waitFor(t, 60*time.Second, "the run to end", func() bool { return e.find(name).State == "exited" })
}

// TestForegroundRunDetaches: ctrl-p ctrl-q in a foreground 'moat run -it'
// detaches: moat exits 0 saying how to come back, the run goes on, and
// 'moat attach' reaches the same shell.
func TestForegroundRunDetaches(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)
	term := e.newTmux(ws, moatBin, "run", "-it", "-n", name, ws, "--", "sh")
	term.keys("export", "Space", "MARK=kept-$((7*7))", "Enter")
	term.keys("echo", "Space", "ready-$((5*5))", "Enter")
	term.waitFor(60*time.Second, "the shell", "ready-25")
	term.keys("C-p", "C-q")
	term.waitFor(30*time.Second, "the detach message", "Attach again with 'moat attach "+name+"'")
	term.waitFor(30*time.Second, "moat's exit", "command-exit=0")
	if r := e.find(name); r.State != "running" {
		t.Fatalf("after detaching, the run is %s, want running", r.State)
	}
	again := e.newTmux(ws, moatBin, "attach", name)
	again.keys("echo", "Space", "$MARK", "Enter")
	again.waitFor(30*time.Second, "the same shell, attached again", "kept-49")
	again.keys("exit", "Enter")
	waitFor(t, 60*time.Second, "the run to end", func() bool { return e.find(name).State == "exited" })
}

// TestExecInteractiveTerminal: 'moat exec -it' on a real terminal (tmux)
// into a detached run: the command gets a terminal of its own (a
// /dev/pts device) as the agent's user, the size of the user's terminal
// and each change of it, and Ctrl-C as a terminal gives it (it
// interrupts what runs in the shell, not the exec or the run); moat exits
// with the shell's code, and the run goes on.
func TestExecInteractiveTerminal(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "600")
	t.Cleanup(func() { e.run("stop", name) })

	term := e.newTmux(ws, moatBin, "exec", "-it", name, "--", "bash")
	// What is typed shows on the screen too: each answer is written so that
	// only the command's output matches, not the typed line.
	term.keys("-l", "echo tty=$(tty) uid=$(id -u)")
	term.keys("Enter")
	term.waitFor(60*time.Second, "the shell's terminal", "tty=/dev/pts/")
	uid := regexp.MustCompile(`uid=(\d+)`).FindStringSubmatch(term.screen())
	if uid == nil || uid[1] == "0" {
		t.Fatalf("the exec'd shell runs as uid %v, want the agent's (not root):\n%s", uid, term.screen())
	}
	if want := strings.TrimSpace(e.mustRun(0, "exec", name, "--", "id", "-u").stdout); uid[1] != want {
		t.Errorf("the exec'd shell runs as uid %s, want the agent's %s", uid[1], want)
	}

	term.sizeSeen("48 160")
	term.tmux("resize-window", "-t", "main", "-x", "100", "-y", "30")
	term.sizeSeen("30 100")

	// Ctrl-C ends the sleep in the shell, which goes on: its next command
	// answers long before the sleep would have ended.
	term.keys("-l", "echo sleeping-$((2*3)); sleep 100")
	term.keys("Enter")
	term.waitFor(30*time.Second, "the shell to start the sleep", "sleeping-6")
	sleeping := func() bool {
		res := e.run("exec", name, "--", "sh", "-c", `cat /proc/[0-9]*/cmdline | tr '\0' ' '`)
		return strings.Contains(res.stdout, "sleep 100")
	}
	waitForDetail(t, 30*time.Second, "the sleep in the exec'd shell", sleeping, term.screen)
	term.keys("C-c")
	term.keys("-l", "echo alive-$((6*7))")
	term.keys("Enter")
	term.waitFor(30*time.Second, "the shell after Ctrl-C", "alive-42")
	if sleeping() {
		t.Errorf("after Ctrl-C, the sleep still runs:\n%s", term.screen())
	}
	if r := e.find(name); r.State != "running" {
		t.Fatalf("after Ctrl-C in the exec'd shell, the run is %s, want running:\n%s", r.State, term.screen())
	}

	term.keys("-l", "exit 3")
	term.keys("Enter")
	term.waitFor(30*time.Second, "moat to exit with the shell's code", "command-exit=3")
	if r := e.find(name); r.State != "running" {
		t.Errorf("after the exec ended, the run is %s, want running", r.State)
	}
}
