//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// tmuxSession is a terminal the test types into and reads, as a user at
// a terminal would: a tmux server of its own, 160x48.
type tmuxSession struct {
	t      *testing.T
	socket string
}

// newTmux starts argv in a tmux session with e's environment; the session
// and its server end with the test. ws's image is built first, with the
// harness's patience: on a fresh machine every agent test builds at once,
// and the terminal's wait is for the CLI, not the build.
func (e *moatEnv) newTmux(ws string, argv ...string) *tmuxSession {
	t := e.t
	t.Helper()
	e.mustRun(0, "run", ws, "--", "true")
	return e.startTmux(argv...)
}

// startTmux starts argv in a tmux session as newTmux does, building
// nothing first.
func (e *moatEnv) startTmux(argv ...string) *tmuxSession {
	t := e.t
	t.Helper()
	s := &tmuxSession{t: t, socket: "moat-e2e-" + uniqueName(t)}
	// -f /dev/null: no user configuration; the shell holds the pane open
	// after the command ends, so its last screen can still be read. Its
	// trap keeps it there when Ctrl-C reaches the pane's process group:
	// it runs once the command has ended (the command gets the default).
	script := "trap true INT; " + strings.Join(quoteAll(argv), " ") + `; echo "command-exit=$?"; sleep 600`
	cmd := e.commandArgv(context.Background(), []string{"tmux", "-L", s.socket, "-f", "/dev/null",
		"new-session", "-d", "-x", "160", "-y", "48", "-s", "main", "sh", "-c", script})
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("starting tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func quoteAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

// screen is what the pane shows now.
func (s *tmuxSession) screen() string {
	out, err := exec.Command("tmux", "-L", s.socket, "capture-pane", "-p", "-t", "main").Output()
	if err != nil {
		return "(capture-pane: " + err.Error() + ")"
	}
	return string(out)
}

// waitFor waits until the screen shows text, and fails with the screen.
func (s *tmuxSession) waitFor(within time.Duration, what, text string) {
	s.t.Helper()
	waitForDetail(s.t, within, what, func() bool { return strings.Contains(s.screen(), text) }, s.screen)
}

// TestClaudeInteractive runs 'moat claude' on a real terminal (tmux):
// the real Claude Code starts straight at its prompt (the first-start
// questions were answered when moat made its state), takes a typed
// request, has the fake model's tool call write the file, shows the
// answer, and exits with /exit; moat exits 0 and leaves nothing behind.
func TestClaudeInteractive(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeAnthropic(t, addr+":443")
	ws := e.claudeWorkspace(fake, addr, "")
	name := uniqueName(t)
	term := e.newTmux(ws, moatBin, "claude", "-n", name, ws) // on a terminal: interactive, no -it needed
	t.Cleanup(func() { e.run("stop", name) })

	term.waitFor(90*time.Second, "Claude Code's prompt", "bypass permissions on")
	term.submit("Create hello.txt from the terminal 3b9a", func() bool { return exists(filepath.Join(ws, "hello.txt")) })
	term.waitFor(60*time.Second, "the model's answer", "Done: the file is written.")
	if got := readFile(t, ws, "hello.txt"); got != "hello from the fake model\n" {
		t.Errorf("hello.txt = %q", got)
	}
	term.submit("/exit", func() bool { return strings.Contains(term.screen(), "command-exit=") })
	term.waitFor(10*time.Second, "moat to exit 0", "command-exit=0")

	for _, q := range fake.Requests() {
		if q.APIKey != fakeapi.AnthropicKey && !fakeapi.OpenPath(q.Path) {
			t.Errorf("%s %s reached the fake with x-api-key %q, want the granted key", q.Method, q.Path, q.APIKey)
		}
	}
	if ids := dockerIDs(t, "ps", "-aq", "--filter", "label=moat.run-id="+e.find(name).ID); len(ids) != 0 {
		t.Errorf("the run left %d containers", len(ids))
	}
}

// submitUntil types text into Gemini CLI's prompt and presses Enter until
// done reports true, up to three times. The CLI takes quick input for a
// paste, and an Enter that comes while it still thinks so (its 40 ms
// window can run late while it is busy starting) adds a line instead of
// submitting; a person presses Enter again.
func (term *tmuxSession) submit(text string, done func() bool) {
	term.t.Helper()
	tmux := func(args ...string) {
		args = append([]string{"-L", term.socket, "send-keys", "-t", "main"}, args...)
		if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
			term.t.Fatalf("send-keys: %v\n%s", err, out)
		}
	}
	tmux("-l", text)
	term.waitFor(30*time.Second, "the typed text", text)
	for i := range 3 {
		if i > 0 {
			term.t.Logf("Enter %d did nothing; pressing it again:\n%s", i, term.screen())
		}
		time.Sleep(time.Second)
		tmux("Enter")
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if done() {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	term.t.Fatalf("%q was not acted on after three Enters:\n%s", text, term.screen())
}

// tmux runs a tmux command on s's server.
func (s *tmuxSession) tmux(args ...string) {
	s.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
}

// sizeSeen asks the shell in s for its terminal's size until it answers
// "ROWS COLS" as want says: a size change reaches the shell a moment
// after the terminal's, so the question is asked again while it has not.
func (s *tmuxSession) sizeSeen(want string) {
	s.t.Helper()
	waitForDetail(s.t, 30*time.Second, "the shell to see the terminal's size "+want, func() bool {
		s.keys("-l", "echo size=$(stty size)")
		s.keys("Enter")
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(s.screen(), "size="+want+"\n") {
				return true
			}
			time.Sleep(100 * time.Millisecond)
		}
		return false
	}, s.screen)
}
