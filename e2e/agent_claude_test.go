//go:build e2e

package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// loopbackHost hands each test a loopback address of its own, so fakes of
// public APIs can listen on their real port (443) side by side. Test
// binaries running at the same time start at different addresses, and an
// address whose port 443 is taken is skipped.
var loopbackHost atomic.Int32

func nextLoopback() string {
	start := 20 + os.Getpid()%100*2
	for range 200 {
		addr := "127.0.0." + strconv.Itoa(10+(start+int(loopbackHost.Add(1)))%240)
		if ln, err := net.Listen("tcp", addr+":443"); err == nil {
			ln.Close()
			return addr
		}
	}
	panic("no loopback address with port 443 free")
}

// claudeWorkspace is a workspace whose agent.yaml starts Claude Code with
// the anthropic grant, api.anthropic.com mapped to fake's address and its
// CA trusted, approved, and owned by uid 1000 (the agent's user). Its
// moat home builds from the tests' npm registry.
func (e *moatEnv) claudeWorkspace(fake *fakeapi.Anthropic, addr, extra string) string {
	e.t.Helper()
	e.storeGrant("anthropic", fakeapi.AnthropicKey)
	return e.claudeWorkspaceFor(fake, addr, "grants: [anthropic]\n"+extra)
}

// storeGrant stores secret as the built-in grant kind.
func (e *moatEnv) storeGrant(kind, secret string) {
	e.t.Helper()
	if res := e.runInput(secret, "grant", kind, "--token-stdin"); res.code != 0 {
		e.t.Fatalf("grant %s: %s", kind, res)
	}
}

// claudeWorkspaceFor is claudeWorkspace with no grant stored or named:
// extra says which, if any.
func (e *moatEnv) claudeWorkspaceFor(fake *fakeapi.Anthropic, addr, extra string) string {
	e.t.Helper()
	return e.agentWorkspace("claude", "claude-code", "api.anthropic.com", addr, fake.CAPEM, extra)
}

// TestClaudeCodeWritesAFileAndResumes runs the real Claude Code (the
// native build, installed from the npm registry into the run's image)
// against a fake Anthropic API on the host, through moat's proxy. The
// fake model asks for a file to be written: the file lands in the
// workspace, owned by the user; every request carried the real key,
// which nothing in the agent's container holds; the trace and the audit
// log agree with what the fake saw; the managed CLAUDE.md moat mounts
// reached the model; and 'moat claude -- -p --continue' resumes the
// session, which outlived the first run in the moat home.
func TestClaudeCodeWritesAFileAndResumes(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeAnthropic(t, addr+":443")
	ws := e.claudeWorkspace(fake, addr, "")

	// First run: started as 'moat run' with agent.yaml's agent:, held
	// open after Claude Code exits so its container can be scanned.
	const prompt = "Create hello.txt for the e2e test 7c1f"
	name := e.claudeHeldOpen(ws, prompt)
	checkFakeModelFile(t, ws)
	r := e.find(name)
	// The prompt is in the session Claude Code keeps in its state
	// directory: found there, it proves the scan read that mount too.
	scanForSecret(t, r.ID, fakeapi.AnthropicKey, "hello from the fake model", prompt)

	reqs := fake.Requests()
	if len(fake.Turns()) < 2 {
		t.Fatalf("the fake saw %d model turns, want the tool call and the answer: %+v", len(fake.Turns()), reqs)
	}
	for _, q := range reqs {
		if q.APIKey != fakeapi.AnthropicKey {
			t.Errorf("%s %s reached the fake with x-api-key %q, want the granted key", q.Method, q.Path, q.APIKey)
		}
	}
	notes := strings.Join(fake.SystemPrompts(), "\n")
	mustContain(t, "what reached the model", notes, "You are running in a moat sandbox", "api.anthropic.com", "X-Moat-Blocked")

	e.mustRun(0, "stop", name)
	e.checkAgentRecords(name, "api.anthropic.com", "anthropic", len(reqs))

	// Second run: the launcher, with its default arguments, resuming the
	// first run's session from the state moat kept.
	res := e.mustRun(0, "claude", ws, "--", "-p", "--continue", "Now say goodbye")
	mustContain(t, "moat claude's output", res.stdout, "Done: the file is written.")
	if !fake.Resumed(prompt) {
		t.Errorf("the second run did not send the first run's conversation: it did not resume")
	}
}

// claudeHeldOpen starts a detached 'moat run' of ws (agent.yaml's agent:
// claude) whose command runs 'claude -p prompt' and then holds the run
// open, so its container can be scanned; it waits for Claude Code to
// finish, checks it succeeded with the fake model's last words, and
// returns the run's name. runFlags go before the workspace.
func (e *moatEnv) claudeHeldOpen(ws, prompt string, runFlags ...string) string {
	e.t.Helper()
	return e.agentHeldOpen(ws, `claude -p --dangerously-skip-permissions '`+prompt+`'`, runFlags...)
}

// fakeClaudeOAuthToken is shaped like what 'claude setup-token' prints.
const fakeClaudeOAuthToken = "sk-ant-oat01-e2e-fake-subscription-token-AA"

// TestClaudeSubscription runs the real Claude Code on a Claude
// subscription login: 'moat grant claude' stores the token, and the CLI,
// seeing only the sk-ant-oat01- placeholder, takes the subscription path
// (bearer token with its OAuth beta header, no API key) without asking
// to log in, while the proxy puts the real token on every request. With
// an API key stored as well, the user picks per run: --grant anthropic
// or --grant claude, and a run given both is refused before anything
// starts rather than letting one silently win.
func TestClaudeSubscription(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeAnthropic(t, addr+":443", fakeapi.WithAPIKey(""), fakeapi.WithOAuthToken(fakeClaudeOAuthToken))
	e.storeGrant("anthropic", fakeapi.AnthropicKey)
	e.storeGrant("claude", fakeClaudeOAuthToken)
	ws := e.claudeWorkspaceFor(fake, addr, "")

	const prompt = "Create hello.txt on the subscription 5d2e"
	// A CLI that wants a login says so and exits 1.
	name := e.claudeHeldOpen(ws, prompt, "--grant", "claude")
	if got := readFile(t, ws, "hello.txt"); got != "hello from the fake model\n" {
		t.Errorf("hello.txt = %q", got)
	}
	scanForSecret(t, e.find(name).ID, fakeClaudeOAuthToken, prompt)
	e.mustRun(0, "stop", name)

	reqs := fake.Requests()
	if len(fake.Turns()) < 2 {
		t.Fatalf("the fake saw %d model turns, want the tool call and the answer", len(fake.Turns()))
	}
	for _, q := range reqs {
		if q.Authorization != "Bearer "+fakeClaudeOAuthToken || q.APIKey != "" {
			t.Errorf("%s %s reached the fake with Authorization %q and x-api-key %q, want only the subscription token",
				q.Method, q.Path, q.Authorization, q.APIKey)
		}
	}
	for _, q := range fake.Turns() {
		if !strings.Contains(q.Beta, "oauth-2025-04-20") {
			t.Errorf("a model turn went without the OAuth beta (anthropic-beta %q): the CLI billed the API, not the plan", q.Beta)
		}
	}

	// Both credentials for one run: refused up front, naming the choice.
	before := len(fake.Requests())
	res := e.run("claude", "--grant", "anthropic", "--grant", "claude", ws, "--", "-p", "hi")
	if res.code == 0 {
		t.Fatalf("a run with both grants started: %s", res)
	}
	mustContain(t, "the refusal", res.stderr, "grants anthropic and claude both send a credential to api.anthropic.com",
		"--grant anthropic or --grant claude")
	if after := len(fake.Requests()); after != before {
		t.Errorf("the refused run reached the API (%d requests)", after-before)
	}

	// Naming neither while both are stored: the launcher asks for a choice.
	res = e.run("claude", ws, "--", "-p", "hi")
	if res.code == 0 {
		t.Fatalf("a launch naming no credential, with two stored, ran: %s", res)
	}
	mustContain(t, "the question", res.stderr, "claude can use grants anthropic and claude, all stored", "--grant anthropic or --grant claude")
	// With only the subscription stored, the launcher uses it by itself,
	// says so, and the next run resumes the session on the same login.
	e.mustRun(0, "revoke", "anthropic")
	res = e.mustRun(0, "claude", ws, "--", "-p", "--continue", "Now say goodbye")
	mustContain(t, "moat claude's output", res.stdout, "Done: the file is written.")
	mustContain(t, "moat claude's notice", res.stderr, "Using the stored grant claude; choose another with --grant.")
	if !fake.Resumed(prompt) {
		t.Errorf("the second run did not resume the first run's session")
	}
}

// newFakeAnthropic serves a fake Anthropic API on addr until the test ends.
func newFakeAnthropic(t *testing.T, addr string, opts ...fakeapi.Option) *fakeapi.Anthropic {
	t.Helper()
	f, err := fakeapi.NewAnthropic(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// serveFake serves h over TLS on addr, as name, until the test ends, and
// returns the CA that signed its certificate.
func serveFake(t *testing.T, name, addr string, h http.Handler) string {
	t.Helper()
	srv, err := fakeapi.ServeTLS(name, addr, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.CAPEM
}

// readFileOr is the file's content, or the error reading it, for messages.
func readFileOr(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err.Error()
	}
	return string(b)
}
