package fakeapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ChatGPT stands in for the two hosts Codex talks to on a ChatGPT login
// (auth_mode chatgpt in its auth.json), as one account:
//
//   - chatgpt.com, Codex's backend: the discovery requests Codex makes
//     before its first model request, and the Responses API at
//     /backend-api/codex/responses with the same scripted model as the
//     OpenAI fake. It answers only the access token valid now, with the
//     account's id in ChatGPT-Account-Id; anything else gets a 401.
//   - auth.openai.com's token endpoint, POST /oauth/token, which renews
//     the login: it accepts only the refresh token valid now, issues a
//     new access token and a new refresh token, and from then on the
//     old ones are refused (OpenAI rotates refresh tokens).
//
// It records every request to both, so a test can check which tokens
// arrived and how often the login was renewed. What each answer must
// hold is in /work/notes/codex-findings.md, section 7.
type ChatGPT struct {
	codexModel // serving chatgpt.com; its CAPEM holds auth.openai.com's CA too
	auth       *Server

	accountID string
	lifetime  time.Duration // of the access tokens it issues

	loginMu   sync.Mutex // guards the tokens and the refreshes
	access    string     // the access token chatgpt.com accepts now
	refresh   string     // the refresh token the token endpoint accepts now
	rotated   []string   // refresh tokens used up
	refreshes []TokenRefresh
}

// ChatGPTLogin is the login a ChatGPT fake starts with: what the user's
// auth.json holds.
type ChatGPTLogin struct {
	AccountID, AccessToken, RefreshToken string
	// RenewedLifetime is how long the access tokens the token endpoint
	// issues stay valid.
	RenewedLifetime time.Duration
}

// TokenRefresh is one request to the token endpoint.
type TokenRefresh struct {
	At                          time.Time
	ClientID, GrantType, Reason string // Reason is Codex's refresh_reason
	RefreshToken                string
	// Accepted says the request was a refresh of this login with the
	// refresh token valid then; AccessToken and NewRefreshToken are what
	// the endpoint issued.
	Accepted                     bool
	AccessToken, NewRefreshToken string
}

// CodexClientID is the OAuth client id of Codex's ChatGPT login.
const CodexClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

// chatGPTResponsesPath is where chatgpt.com serves Codex the Responses API.
const chatGPTResponsesPath = "/backend-api/codex/responses"

// NewChatGPT serves chatgpt.com on backendAddr and auth.openai.com on
// authAddr, such as "127.0.0.7:443" and "127.0.0.8:443", with TLS: each
// host needs port 443 on a loopback address of its own, one per test.
// The test maps both names in agent.yaml's network.hosts and trusts
// CAPEM.
func NewChatGPT(backendAddr, authAddr string, login ChatGPTLogin) (*ChatGPT, error) {
	f := newChatGPT(login)
	if err := f.serve("chatgpt.com", backendAddr, http.HandlerFunc(f.serveBackend)); err != nil {
		return nil, err
	}
	auth, err := ServeTLS("auth.openai.com", authAddr, http.HandlerFunc(f.serveToken))
	if err != nil {
		f.codexModel.Close()
		return nil, err
	}
	f.auth, f.CAPEM = auth, f.CAPEM+auth.CAPEM
	return f, nil
}

func newChatGPT(login ChatGPTLogin) *ChatGPT {
	f := &ChatGPT{codexModel: codexModel{responsesPath: chatGPTResponsesPath}, accountID: login.AccountID,
		lifetime: login.RenewedLifetime, access: login.AccessToken, refresh: login.RefreshToken}
	f.configure("", codexFile, nil)
	return f
}

// Close stops both hosts.
func (f *ChatGPT) Close() error {
	f.auth.Close()
	return f.codexModel.Close()
}

// AccessToken is the access token chatgpt.com accepts now.
func (f *ChatGPT) AccessToken() string {
	f.loginMu.Lock()
	defer f.loginMu.Unlock()
	return f.access
}

// Refreshes returns every request to the token endpoint, in order.
func (f *ChatGPT) Refreshes() []TokenRefresh {
	f.loginMu.Lock()
	defer f.loginMu.Unlock()
	return slices.Clone(f.refreshes)
}

func (f *ChatGPT) serveBackend(w http.ResponseWriter, r *http.Request) {
	req := readOpenAIRequest(r)
	req.Authorized = req.Authorization == "Bearer "+f.AccessToken() && req.AccountID == f.accountID
	n := f.record(req)
	if !req.Authorized {
		// A 401 makes Codex renew its login itself, at auth.openai.com,
		// with the refresh token of its auth.json.
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Could not validate your token or account. Please try signing in again."})
		return
	}
	switch {
	case req.Path == "/backend-api/wham/accounts/check":
		// Workspace routing: Codex looks its account up here and fails
		// every turn if it is missing; "NO_CONSTRAINT" is the plain
		// route, on chatgpt.com itself.
		WriteJSON(w, http.StatusOK, map[string]any{"accounts": []any{map[string]any{
			"id": f.accountID, "plan_type": "pro", "structure": "personal",
			"workspace_backend_origin": "https://chatgpt.com", "account_routing_override": "NO_CONSTRAINT"}}})
	case req.Path == "/backend-api/codex/models":
		// No remote models: Codex keeps its built-in list. A 404 would
		// only be retried.
		WriteJSON(w, http.StatusOK, map[string]any{"models": []any{}})
	case req.Path == "/backend-api/wham/settings/user":
		WriteJSON(w, http.StatusOK, map[string]any{})
	case !f.serveModel(w, req, n):
		// Such as /backend-api/ps/mcp, the apps MCP server: Codex warns
		// and goes on.
		http.NotFound(w, r)
	}
}

func (f *ChatGPT) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
		http.NotFound(w, r)
		return
	}
	var body struct {
		ClientID     string `json:"client_id"`
		GrantType    string `json:"grant_type"`
		RefreshToken string `json:"refresh_token"`
		Reason       string `json:"refresh_reason"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		WriteJSON(w, http.StatusBadRequest, oauthError("invalid_request", "the body is not JSON: "+err.Error()))
		return
	}
	f.loginMu.Lock()
	defer f.loginMu.Unlock()
	ref := TokenRefresh{At: time.Now(), ClientID: body.ClientID, GrantType: body.GrantType,
		Reason: body.Reason, RefreshToken: body.RefreshToken}
	switch {
	case body.ClientID != CodexClientID || body.GrantType != "refresh_token":
		WriteJSON(w, http.StatusBadRequest, oauthError("invalid_request", "want client_id "+CodexClientID+" and grant_type refresh_token"))
	case slices.Contains(f.rotated, body.RefreshToken):
		WriteJSON(w, http.StatusUnauthorized, oauthError("refresh_token_reused", "Your refresh token has already been used to generate a new access token. Please try signing in again."))
	case body.RefreshToken != f.refresh:
		WriteJSON(w, http.StatusUnauthorized, oauthError("refresh_token_invalidated", "Your refresh token has been invalidated. Please try signing in again."))
	default:
		ref.Accepted = true
		exp := time.Now().Add(f.lifetime)
		ref.AccessToken = ChatGPTToken(f.accountID, "access-"+randomHex(), exp)
		ref.NewRefreshToken = "rt_fake_" + randomHex()
		f.rotated = append(f.rotated, f.refresh)
		f.access, f.refresh = ref.AccessToken, ref.NewRefreshToken
		WriteJSON(w, http.StatusOK, map[string]any{
			"access_token": ref.AccessToken, "refresh_token": ref.NewRefreshToken,
			"id_token":   ChatGPTToken(f.accountID, "id-"+randomHex(), exp),
			"token_type": "Bearer", "expires_in": int(f.lifetime.Seconds()),
			"scope": "openid profile email offline_access"})
	}
	f.refreshes = append(f.refreshes, ref)
}

// oauthError is OpenAI's error shape, which Codex reports by its code.
func oauthError(code, message string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": message, "type": "invalid_request_error"}}
}

// ChatGPTToken makes a token shaped like the ones auth.openai.com issues
// for a ChatGPT login: a JWT with exp and the claims Codex reads (the
// account, the plan, an email). Its signature is no real one, and
// nothing checks it; but the segment is not empty, since Codex silently
// ignores a login whose tokens end in an empty one. jti tells tokens
// apart.
func ChatGPTToken(accountID, jti string, exp time.Time) string {
	segment := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	claims := map[string]any{
		"iss": "https://auth.openai.com", "aud": []string{CodexClientID}, "client_id": CodexClientID,
		"exp": exp.Unix(), "iat": time.Now().Unix(), "jti": jti, "email": "codex-e2e@example.com",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": accountID, "chatgpt_plan_type": "pro",
			"chatgpt_user_id": "user-fake", "user_id": "user-fake"},
	}
	return segment(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + segment(claims) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("not-a-signature"))
}

func randomHex() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
