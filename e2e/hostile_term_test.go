//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostileFormat is a printf format the agent prints: a clipboard write
// (OSC 52), a title change, a DA query, a DECRQSS query and an 8-bit CSI
// (U+009B) device status query, between the letters A to E.
const hostileFormat = `\033]52;c;cm0gLXJmIH4=\007A\033]0;pwned\007B\033[cC\033P$qm\033\\D\302\2336nE\n`

// onTerminal runs moat with args on a pseudo-terminal (script(1)) and
// returns what reached the terminal.
func onTerminal(t *testing.T, e *moatEnv, args ...string) result {
	t.Helper()
	line := `exec "$MOAT_BIN"`
	for i, a := range args {
		e.env = append(e.env, "MOAT_ARG"+string(rune('0'+i))+"="+a)
		line += ` "$MOAT_ARG` + string(rune('0'+i)) + `"`
	}
	e.env = append(e.env, "MOAT_BIN="+moatBin)
	return e.runArgv("", []string{"script", "-qec", line, "/dev/null"})
}

// mustBeInert fails the test if a terminal would act on anything in out
// but line breaks: ESC, BEL, other C0 controls, C1 (as characters or raw
// bytes) and invalid UTF-8.
func mustBeInert(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s is not valid UTF-8: %q", what, out)
	}
	for _, r := range out {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f {
			t.Errorf("%s holds the control character %U: %q", what, r, out)
			return
		}
	}
}

// TestHostileTerminalOutput: an agent that prints control sequences, and
// whose agent.yaml command and workspace path hold them, reaches the
// user's terminal through moat run (no -t), moat logs and moat list without
// them, its text intact; moat list --json escapes them, and moat logs into
// a pipe keeps the agent's bytes.
func TestHostileTerminalOutput(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := filepath.Join(e.workspace(nil), "ws-\x1b]0;ws-title\x07")
	writeTree(t, ws, map[string]string{"agent.yaml": "command: ['printf', '" + hostileFormat + "%.0s', \"\\x1b]0;cmd-title\\x07\"]\n"})
	name := uniqueName(t)
	// The image is built (or recorded in this moat home) first: a build's
	// progress line is moat's own terminal output, not the agent's.
	e.mustRun(0, "run", ws, "--", "true")

	run := onTerminal(t, e, "run", "--name", name, ws)
	if run.code != 0 {
		t.Fatalf("moat run: exit %d:\n%s", run.code, run)
	}
	// moat's own build progress redraws its line ("\r\x1b[K"): that one
	// sequence is moat's, not the agent's, if another moat home's build
	// made this one build again.
	mustBeInert(t, "moat run's output", strings.ReplaceAll(run.stdout, "\r\x1b[K", "\r"))
	mustContain(t, "moat run's output", run.stdout, "ABCDE")

	logs := onTerminal(t, e, "logs", name)
	mustBeInert(t, "moat logs on a terminal", logs.stdout)
	mustContain(t, "moat logs on a terminal", logs.stdout, "ABCDE")

	raw := e.mustRun(0, "logs", name)
	mustContain(t, "moat logs into a pipe", raw.stdout, "\x1b]52;c;cm0gLXJmIH4=\x07A", "\u009b6nE")

	list := onTerminal(t, e, "list", "-a")
	mustBeInert(t, "moat list on a terminal", list.stdout)
	mustContain(t, "moat list on a terminal", list.stdout, name, "printf", "ws-")

	js := onTerminal(t, e, "list", "-a", "--json")
	mustBeInert(t, "moat list --json on a terminal", js.stdout)
	mustContain(t, "moat list --json on a terminal", js.stdout, `\u001b]0;cmd-title\u0007`, `ws-\u001b]0;ws-title\u0007`)
}

// TestHostileMountHint: a mount source named like a command substitution
// gets a remedy whose command, pasted into a shell, creates that directory
// and runs nothing.
func TestHostileMountHint(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	ws := e.untrustedWorkspace(map[string]string{"agent.yaml": "mounts: ['./$(touch " + marker + "):/mnt']\n"})
	res := e.mustRun(125, "run", ws, "--", "true")
	m := regexp.MustCompile(`(?m)^  (mkdir -p .*)$`).FindStringSubmatch(res.stderr)
	if m == nil {
		t.Fatalf("no mkdir command of its own in the remedy:\n%s", res)
	}
	if out, err := exec.Command("sh", "-c", m[1]).CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v\n%s", m[1], err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("pasting the remedy %q ran the agent's command substitution", m[1])
	}
	if fi, err := os.Stat(filepath.Join(ws, "$(touch "+marker+")")); err != nil || !fi.IsDir() {
		t.Fatalf("the remedy %q did not create the mount's source: %v", m[1], err)
	}
	if !strings.Contains(res.stderr, "or remove the mount from") {
		t.Fatalf("the remedy lost its other choice:\n%s", res)
	}
}

// TestLogsOneLongLine: a 1 MiB line without a newline comes back from the
// saved log whole, with one timestamp, though the engine splits it into
// 16 KiB messages and times each.
func TestLogsOneLongLine(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(map[string]string{"agent.yaml": `command: ["sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' x"]` + "\n"})
	name := uniqueName(t)
	e.mustRun(0, "run", "--name", name, ws)
	want := strings.Repeat("x", 1<<20) + "\n"
	if res := e.mustRun(0, "logs", name); res.stdout != want {
		t.Errorf("moat logs printed %d bytes, want the line's %d", len(res.stdout), len(want))
	}
	res := e.mustRun(0, "logs", "-t", "-n", "1", name)
	stamp, line, _ := strings.Cut(res.stdout, " ")
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || line != want {
		t.Errorf("moat logs -t -n 1: %q then %d bytes, want a time then the line's %d", stamp, len(line), len(want))
	}
}
