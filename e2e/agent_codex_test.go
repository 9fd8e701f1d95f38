//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// TestCodexWritesAFileAndResumes runs the real Codex (the native build,
// installed from the npm registry into the run's image) against a fake
// OpenAI API on the host, through moat's proxy. The fake model has Codex
// apply a patch that adds a file: the file lands in the workspace, owned
// by the user; every request carried the real key, which nothing in the
// agent's container holds (Codex's auth.json holds the placeholder);
// the trace and the audit log agree with what the fake saw, and show no
// request to another host (no update check, metrics or plugin sync);
// the sandbox note reached the model through the managed hook; and
// 'moat codex -- exec resume --last' resumes the session, which outlived
// the first run in the moat home.
func TestCodexWritesAFileAndResumes(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeOpenAI(t, addr+":443")
	e.storeGrant("openai", fakeapi.OpenAIKey)
	ws := e.agentWorkspace("codex", "codex", "api.openai.com", addr, fake.CAPEM, "grants: [openai]\n")

	// First run: started as 'moat run' with agent.yaml's agent:, held
	// open after Codex exits so its container can be scanned. The
	// workspace is no Git repository: the bypass flag lets Codex work
	// there.
	const prompt = "Create hello.txt for the e2e test 5d2e"
	name := e.agentHeldOpen(ws, `codex --dangerously-bypass-approvals-and-sandbox exec '`+prompt+`'`)
	checkFakeModelFile(t, ws)
	r := e.find(name)
	// The prompt is in the session Codex keeps in its state directory:
	// found there, it proves the scan read that mount too.
	scanForSecret(t, r.ID, fakeapi.OpenAIKey, "hello from the fake model", prompt)

	reqs := fake.Requests()
	if len(fake.Turns()) < 2 {
		t.Fatalf("the fake saw %d model turns, want the tool call and the answer: %+v", len(fake.Turns()), reqs)
	}
	for _, q := range reqs {
		if !q.Authorized {
			t.Errorf("%s %s reached the fake with Authorization %q, want the granted key", q.Method, q.Path, q.Authorization)
		}
	}
	notes := strings.Join(fake.Instructions(), "\n")
	mustContain(t, "what reached the model", notes, "You are running in a moat sandbox", "api.openai.com", "X-Moat-Blocked")

	e.mustRun(0, "stop", name)
	// Nothing but the API: moat's config.toml keeps Codex from checking
	// for updates, sending metrics and syncing plugins.
	e.checkAgentRecords(name, "api.openai.com", "openai", len(reqs))

	// Second run: the launcher, with its default arguments, resuming the
	// first run's session from the state moat kept (codex exec resume
	// --last picks the newest session of the same cwd, /workspace).
	res := e.mustRun(0, "codex", ws, "--", "exec", "resume", "--last", "Now say goodbye")
	mustContain(t, "moat codex's output", res.stdout, "Done: the file is written.")
	if !fake.Resumed(prompt) {
		t.Errorf("the second run did not send the first run's conversation: it did not resume")
	}
}

// newFakeOpenAI serves a fake OpenAI API on addr until the test ends.
func newFakeOpenAI(t *testing.T, addr string, opts ...fakeapi.Option) *fakeapi.OpenAI {
	t.Helper()
	f, err := fakeapi.NewOpenAI(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
