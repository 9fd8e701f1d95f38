package fakeapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// TestChatGPTRenewsTheLoginOnce checks the token endpoint: the starting
// refresh token buys a new access token of the given lifetime and a new
// refresh token, once; after that chatgpt.com takes only the new access
// token with the account's id.
func TestChatGPTRenewsTheLoginOnce(t *testing.T) {
	f := newChatGPT(ChatGPTLogin{AccountID: "acct-1", AccessToken: "at-0", RefreshToken: "rt-0", RenewedLifetime: 48 * time.Hour})
	refresh := func(clientID, token string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]string{"client_id": clientID, "grant_type": "refresh_token", "refresh_token": token})
		rec := httptest.NewRecorder()
		f.serveToken(rec, httptest.NewRequest(http.MethodPost, "https://auth.openai.com/oauth/token", bytes.NewReader(body)))
		var answer map[string]any
		json.Unmarshal(rec.Body.Bytes(), &answer)
		return rec.Code, answer
	}
	if code, _ := refresh("another-client", "rt-0"); code != http.StatusBadRequest {
		t.Errorf("a refresh for another client: status %d, want 400", code)
	}
	code, answer := refresh(CodexClientID, "rt-0")
	access, _ := answer["access_token"].(string)
	if code != http.StatusOK || access == "" || answer["refresh_token"] == "rt-0" || answer["id_token"] == nil {
		t.Fatalf("the refresh: status %d, %v; want new tokens", code, answer)
	}
	if exp := jwtExpiry(t, access); exp.Before(time.Now().Add(47*time.Hour)) || exp.After(time.Now().Add(49*time.Hour)) {
		t.Errorf("the new access token expires at %v, want in 48 hours", exp)
	}
	if code, answer := refresh(CodexClientID, "rt-0"); code != http.StatusUnauthorized || !strings.Contains(mustJSON(answer), "refresh_token_reused") {
		t.Errorf("the used refresh token again: status %d, %v; want 401 refresh_token_reused", code, answer)
	}
	refs := f.Refreshes()
	if len(refs) != 3 || refs[0].Accepted || !refs[1].Accepted || refs[2].Accepted || refs[1].AccessToken != access {
		t.Errorf("refreshes = %+v, want three, the second accepted", refs)
	}

	for _, c := range []struct {
		token, account string
		want           int
	}{{"at-0", "acct-1", 401}, {access, "acct-2", 401}, {access, "acct-1", 200}} {
		req := httptest.NewRequest(http.MethodGet, "https://chatgpt.com/backend-api/wham/accounts/check", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("ChatGPT-Account-Id", c.account)
		rec := httptest.NewRecorder()
		f.serveBackend(rec, req)
		if rec.Code != c.want {
			t.Errorf("accounts/check with %.10s... and %s: status %d, want %d", c.token, c.account, rec.Code, c.want)
		}
		if c.want == 200 && !strings.Contains(rec.Body.String(), `"account_routing_override":"NO_CONSTRAINT"`) {
			t.Errorf("accounts/check = %s, want the account's plain route", rec.Body)
		}
	}
}

// TestChatGPTModelReadsZstd checks that chatgpt.com's Responses API runs
// the scripted conversation on the zstd bodies Codex sends on a ChatGPT
// login: the exec call first, the last words once its output is back.
func TestChatGPTModelReadsZstd(t *testing.T) {
	f := newChatGPT(ChatGPTLogin{AccountID: "acct-1", AccessToken: "at-0", RefreshToken: "rt-0"})
	execTool := map[string]any{"type": "additional_tools", "tools": []any{map[string]any{"tools": []any{map[string]any{"name": "exec"}}}}}
	turn := func(input ...any) string {
		body, _ := json.Marshal(map[string]any{"model": "gpt-test", "input": input})
		enc, _ := zstd.NewWriter(nil)
		req := httptest.NewRequest(http.MethodPost, "https://chatgpt.com"+chatGPTResponsesPath, bytes.NewReader(enc.EncodeAll(body, nil)))
		req.Header.Set("Content-Encoding", "zstd")
		req.Header.Set("Authorization", "Bearer at-0")
		req.Header.Set("ChatGPT-Account-Id", "acct-1")
		rec := httptest.NewRecorder()
		f.serveBackend(rec, req)
		return rec.Body.String()
	}
	if got := turn(execTool); !strings.Contains(got, `"type":"custom_tool_call"`) || !strings.Contains(got, "apply_patch") {
		t.Errorf("the first turn streamed %s, want the exec call", got)
	}
	if got := turn(execTool, map[string]any{"type": "custom_tool_call_output", "call_id": "call_fake0001"}); !strings.Contains(got, "Done: the file is written.") {
		t.Errorf("the second turn streamed %s, want the last words", got)
	}
	if n := len(f.Turns()); n != 2 {
		t.Errorf("Turns() = %d, want 2", n)
	}
}

func jwtExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] == "" {
		t.Fatalf("%q is not a JWT with a signature segment", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Exp int64 }
	if err == nil {
		err = json.Unmarshal(payload, &claims)
	}
	if err != nil {
		t.Fatalf("the JWT's claims: %v", err)
	}
	return time.Unix(claims.Exp, 0)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
