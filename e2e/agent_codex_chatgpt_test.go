//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// TestCodexChatGPTLogin runs the real Codex on a ChatGPT login, against
// fakes of chatgpt.com and auth.openai.com on the host. The user stores
// Codex's auth.json with 'moat grant codex'; its access token expires
// within the hour, so moat renews the login before the run starts,
// once. Codex itself holds a placeholder login: every request to
// chatgpt.com carried the renewed token and the real account, the
// secret scan of the agent's container finds none of the tokens, and the
// file the fake model asks for is written. The renewed login was
// stored: a second run, resuming the first one's session, renews
// nothing. An API-key auth.json is refused, naming the grant it belongs
// to, and so is a run given both grants.
func TestCodexChatGPTLogin(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	backendAddr, authAddr := nextLoopback(), nextLoopback()
	const account = "acct-e2e-chatgpt-5d2e"
	login := fakeapi.ChatGPTLogin{
		AccountID:       account,
		AccessToken:     fakeapi.ChatGPTToken(account, "e2e-stored-access", time.Now().Add(time.Hour)),
		RefreshToken:    "rt_e2e_stored_refresh_5d2e",
		RenewedLifetime: 30 * 24 * time.Hour,
	}
	fake := newFakeChatGPT(t, backendAddr+":443", authAddr+":443", login)
	e.storeGrant("codex", codexChatGPTAuthFile(login))
	ws := e.chatGPTWorkspace(fake, backendAddr, authAddr)

	// First run: held open after Codex exits so its container can be
	// scanned.
	const prompt = "Create hello.txt on the ChatGPT login 5d2e"
	name := e.agentHeldOpen(ws, `codex --dangerously-bypass-approvals-and-sandbox exec '`+prompt+`'`, "--grant", "codex")
	checkFakeModelFile(t, ws)

	refreshes := fake.Refreshes()
	if len(refreshes) != 1 || !refreshes[0].Accepted || refreshes[0].RefreshToken != login.RefreshToken {
		t.Fatalf("the token endpoint saw %+v, want one refresh with the stored refresh token", refreshes)
	}
	renewed := refreshes[0]
	if len(fake.Turns()) < 2 {
		t.Fatalf("the fake saw %d model turns, want the tool call and the answer: %+v", len(fake.Turns()), fake.Requests())
	}
	checkChatGPTRequests(t, fake.Requests(), renewed.AccessToken, account)

	r := e.find(name)
	// The prompt is in the session Codex keeps in its state directory:
	// found there, it proves the scan read that mount too.
	scanForSecret(t, r.ID, renewed.AccessToken, "hello from the fake model", prompt)
	for _, secret := range []string{renewed.NewRefreshToken, login.AccessToken, login.RefreshToken} {
		scanForSecret(t, r.ID, secret)
	}
	e.mustRun(0, "stop", name)
	e.checkAgentRecords(name, "chatgpt.com", "codex", len(fake.Requests()))

	// Second run: the launcher, resuming the session. The stored login
	// is the renewed one, good for a month: no refresh.
	before := len(fake.Requests())
	res := e.mustRun(0, "codex", "--grant", "codex", ws, "--", "exec", "resume", "--last", "Now say goodbye")
	mustContain(t, "moat codex's output", res.stdout, "Done: the file is written.")
	if n := len(fake.Refreshes()); n != 1 {
		t.Errorf("the token endpoint saw %d refreshes after the second run, want still 1: the renewed login was not stored: %+v",
			n, fake.Refreshes())
	}
	checkChatGPTRequests(t, fake.Requests()[before:], renewed.AccessToken, account)
	if !fake.Resumed(prompt) {
		t.Errorf("the second run did not send the first run's conversation: it did not resume")
	}

	// An API key is the openai grant's, not a ChatGPT login.
	res = e.runInput(`{"auth_mode":"apikey","OPENAI_API_KEY":"`+fakeapi.OpenAIKey+`"}`, "grant", "codex", "--token-stdin")
	if res.code == 0 {
		t.Fatalf("moat grant codex stored an API-key auth.json: %s", res)
	}
	mustContain(t, "the refusal", res.stderr, "moat grant openai")

	// Both credentials for one run: refused before anything starts.
	e.storeGrant("openai", fakeapi.OpenAIKey)
	before = len(fake.Requests())
	res = e.run("codex", "--grant", "openai", "--grant", "codex", ws, "--", "exec", "hi")
	if res.code == 0 {
		t.Fatalf("a run with both grants started: %s", res)
	}
	mustContain(t, "the refusal", res.stderr, "--grant openai", "--grant codex")
	if after := len(fake.Requests()); after != before {
		t.Errorf("the refused run reached chatgpt.com (%d requests)", after-before)
	}
}

// checkChatGPTRequests checks that each of reqs, requests chatgpt.com
// saw, carried the access token and the account id of the real login.
func checkChatGPTRequests(t *testing.T, reqs []fakeapi.OpenAIRequest, accessToken, account string) {
	t.Helper()
	for _, q := range reqs {
		if q.Authorization != "Bearer "+accessToken || q.AccountID != account {
			t.Errorf("%s %s reached chatgpt.com with Authorization %.40q... and ChatGPT-Account-Id %q, want the renewed token and %q",
				q.Method, q.Path, q.Authorization, q.AccountID, account)
		}
	}
}

// codexChatGPTAuthFile is the auth.json Codex writes for login: what
// 'codex login' leaves in $CODEX_HOME.
func codexChatGPTAuthFile(login fakeapi.ChatGPTLogin) string {
	b, err := json.Marshal(map[string]any{
		"auth_mode": "chatgpt", "OPENAI_API_KEY": nil,
		"tokens": map[string]any{
			"id_token":     fakeapi.ChatGPTToken(login.AccountID, "e2e-stored-id", time.Now().Add(time.Hour)),
			"access_token": login.AccessToken, "refresh_token": login.RefreshToken, "account_id": login.AccountID,
		},
		"last_refresh": time.Now().Add(-9 * 24 * time.Hour).UTC().Format(time.RFC3339),
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// chatGPTWorkspace is a workspace whose agent.yaml starts Codex with
// chatgpt.com and auth.openai.com mapped to fake's two addresses and
// its CAs trusted; approved, owned by uid 1000, built from the tests' npm
// registry. No grant is named: each run says which.
func (e *moatEnv) chatGPTWorkspace(fake *fakeapi.ChatGPT, backendAddr, authAddr string) string {
	e.t.Helper()
	e.writeConfig("npm_registry: " + npmRegistryFor(e.t, "codex") + "\n")
	ws := e.workspace(map[string]string{
		"agent.yaml": "agent: codex\nnetwork:\n  hosts: {chatgpt.com: " + backendAddr + ", auth.openai.com: " + authAddr + "}\n  ca: api-ca.pem\n",
		"api-ca.pem": fake.CAPEM,
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// newFakeChatGPT serves fakes of chatgpt.com on backendAddr and of
// auth.openai.com on authAddr, for login, until the test ends.
func newFakeChatGPT(t *testing.T, backendAddr, authAddr string, login fakeapi.ChatGPTLogin) *fakeapi.ChatGPT {
	t.Helper()
	f, err := fakeapi.NewChatGPT(backendAddr, authAddr, login)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
