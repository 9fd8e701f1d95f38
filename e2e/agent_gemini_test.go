//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// newGeminiWorkspace is a moat with the gemini grant stored, a fake
// Gemini API, and a workspace whose agent.yaml starts Gemini CLI with the
// grant, against the fake.
func newGeminiWorkspace(t *testing.T) (*moatEnv, *fakeapi.Gemini, string) {
	t.Helper()
	e := newMoat(t)
	addr := nextLoopback()
	fake, err := fakeapi.NewGemini(addr + ":443")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	e.storeGrant("gemini", fakeapi.GeminiKey)
	ws := e.agentWorkspace("gemini", "gemini-cli", "generativelanguage.googleapis.com", addr, fake.CAPEM, "grants: [gemini]\n")
	return e, fake, ws
}

// TestGeminiWritesAFileAndResumes runs the real Gemini CLI (its npm
// bundle and its own node, installed from the npm registry into the run's
// image) against a fake Gemini API on the host, through moat's proxy. The
// fake model calls write_file: the file lands in the workspace, owned by
// the user; every request carried the real key, which nothing in the
// agent's container holds; the trace and the audit log agree with what
// the fake saw, so nothing else left the run (the system settings moat
// mounts turned usage statistics off: they would go to play.googleapis.com
// and be refused); the note moat mounts reached the model; and 'moat
// gemini -- -r latest -p' resumes the session, which outlived the first
// run in the moat home.
func TestGeminiWritesAFileAndResumes(t *testing.T) {
	t.Parallel()
	e, fake, ws := newGeminiWorkspace(t)

	// First run: started as 'moat run' with agent.yaml's agent:, held open
	// after the CLI exits so its container can be scanned.
	const prompt = "Create hello.txt for the e2e test 4b2e"
	name := e.agentHeldOpen(ws, `gemini --approval-mode yolo -p '`+prompt+`'`)
	checkFakeModelFile(t, ws)
	r := e.find(name)
	// The prompt is in the session Gemini CLI keeps in its state
	// directory: found there, it proves the scan read that mount too.
	scanForSecret(t, r.ID, fakeapi.GeminiKey, "hello from the fake model", prompt)

	reqs := fake.Requests()
	if len(fake.Turns()) < 2 {
		t.Fatalf("the fake saw %d model turns, want the function call and the answer: %+v", len(fake.Turns()), reqs)
	}
	for _, q := range reqs {
		if q.APIKey != fakeapi.GeminiKey {
			t.Errorf("%s %s reached the fake with x-goog-api-key %q, want the granted key", q.Method, q.Path, q.APIKey)
		}
		if strings.Contains(q.Query, "key=") {
			t.Errorf("%s %s?%s: the key went in the query, where the proxy does not replace it", q.Method, q.Path, q.Query)
		}
	}
	notes := strings.Join(fake.Instructions(), "\n")
	mustContain(t, "what reached the model", notes, "You are running in a moat sandbox", "generativelanguage.googleapis.com", "X-Moat-Blocked")

	e.mustRun(0, "stop", name)
	e.checkAgentRecords(name, "generativelanguage.googleapis.com", "gemini", len(reqs))

	// Second run: the launcher, with its default arguments, resuming the
	// first run's session from the state moat kept.
	res := e.mustRun(0, "gemini", ws, "--", "-r", "latest", "-p", "Now say goodbye")
	mustContain(t, "moat gemini's output", res.stdout, "Done: the file is written.")
	if !fake.Resumed(prompt) {
		t.Errorf("the second run did not send the first run's conversation: it did not resume")
	}
}

// TestGeminiInteractive runs 'moat gemini' on a real terminal (tmux): the
// real Gemini CLI starts straight at its prompt in YOLO mode (the API key
// chosen by the settings moat seeded, no folder-trust question about the
// note's directory), takes a typed request, writes the file, shows the
// answer, and exits with /quit; moat exits 0.
func TestGeminiInteractive(t *testing.T) {
	t.Parallel()
	e, fake, ws := newGeminiWorkspace(t)
	name := uniqueName(t)
	term := e.newTmux(ws, moatBin, "gemini", "-n", name, ws)
	t.Cleanup(func() { e.run("stop", name) })

	term.waitFor(90*time.Second, "Gemini CLI's prompt", "Type your message")
	mustContain(t, "the first screen", term.screen(), "YOLO")
	term.submit("Create hello.txt from the terminal 8d1c", func() bool { return exists(filepath.Join(ws, "hello.txt")) })
	term.waitFor(60*time.Second, "the model's answer", "Done: the file is written.")
	if got := readFile(t, ws, "hello.txt"); got != "hello from the fake model\n" {
		t.Errorf("hello.txt = %q", got)
	}
	term.submit("/quit", func() bool { return strings.Contains(term.screen(), "command-exit=") })
	term.waitFor(10*time.Second, "moat to exit 0", "command-exit=0")
	for _, q := range fake.Requests() {
		if q.APIKey != fakeapi.GeminiKey {
			t.Errorf("%s %s reached the fake with x-goog-api-key %q, want the granted key", q.Method, q.Path, q.APIKey)
		}
	}
}
