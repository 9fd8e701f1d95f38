//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

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
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeGemini(t, addr+":443")
	e.storeGrant("gemini", fakeGeminiKey)
	ws := e.agentWorkspace("gemini", "gemini-cli", "generativelanguage.googleapis.com", addr, fake.caPEM, "grants: [gemini]\n")

	// First run: started as 'moat run' with agent.yaml's agent:, held open
	// after the CLI exits so its container can be scanned.
	const prompt = "Create hello.txt for the e2e test 4b2e"
	name := e.heldOpen(ws, "Gemini CLI", `gemini --approval-mode yolo -p '`+prompt+`'`, "Done: the file is written.")
	if got := readFile(t, ws, "hello.txt"); got != "hello from the fake model\n" {
		t.Errorf("hello.txt = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(ws, "hello.txt")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("hello.txt: %v, want a file of uid 1000, the workspace's owner", err)
	}
	r := e.find(name)
	// The prompt is in the session Gemini CLI keeps in its state
	// directory: found there, it proves the scan read that mount too.
	scanForSecret(t, r.ID, fakeGeminiKey, "hello from the fake model", prompt)

	reqs := fake.requests()
	if len(fake.turns()) < 2 {
		t.Fatalf("the fake saw %d model turns, want the function call and the answer: %+v", len(fake.turns()), reqs)
	}
	for _, q := range reqs {
		if q.APIKey != fakeGeminiKey {
			t.Errorf("%s %s reached the fake with x-goog-api-key %q, want the granted key", q.Method, q.Path, q.APIKey)
		}
		if strings.Contains(q.Query, "key=") {
			t.Errorf("%s %s?%s: the key went in the query, where the proxy does not replace it", q.Method, q.Path, q.Query)
		}
	}
	notes := strings.Join(fake.instructions(), "\n")
	mustContain(t, "what reached the model", notes, "You are running in a moat sandbox", "generativelanguage.googleapis.com", "X-Moat-Blocked")

	e.checkTraceAndAudit(name, "generativelanguage.googleapis.com", "gemini", len(reqs))

	// Second run: the launcher, with its default arguments, resuming the
	// first run's session from the state moat kept.
	res := e.mustRun(0, "gemini", ws, "--", "-r", "latest", "-p", "Now say goodbye")
	mustContain(t, "moat gemini's output", res.stdout, "Done: the file is written.")
	if !fake.resumed(prompt) {
		t.Errorf("the second run did not send the first run's conversation: it did not resume")
	}
}
