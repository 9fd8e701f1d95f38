package grant

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Refresher is an Applier whose credential is an OAuth login: an access
// token that expires and a refresh token that renews it. The run's proxy
// holds both and renews the access token itself, shortly before it
// expires, so the agent's container never sees either, and never needs to
// refresh anything.
type Refresher interface {
	// Expires is when secret's access token expires; zero when unknown.
	Expires(secret Secret) time.Time
	// Refresh returns secret with a renewed access token (and the refresh
	// token the server rotated to, if it did), using client, which reaches
	// the login's token endpoint. Errors never contain a secret.
	Refresh(ctx context.Context, client *http.Client, secret Secret) (Secret, error)
}

// ChatGPTLogin is the stored secret of a codex grant: Codex's ChatGPT
// login, as its auth.json holds it. It is stored as JSON.
type ChatGPTLogin struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token,omitempty"`
	AccountID    string `json:"account_id,omitempty"`
}

// ParseChatGPTLogin reads a codex grant's secret, or Codex's own auth.json
// (its "tokens" object), and checks it has an access and a refresh token.
func ParseChatGPTLogin(b []byte) (ChatGPTLogin, error) {
	var file struct {
		AuthMode string        `json:"auth_mode"`
		Tokens   *ChatGPTLogin `json:"tokens"`
		ChatGPTLogin
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return ChatGPTLogin{}, errors.New("not a ChatGPT login: the JSON does not parse")
	}
	l := file.ChatGPTLogin
	if file.Tokens != nil {
		l = *file.Tokens
	}
	if l.AccessToken == "" || l.RefreshToken == "" {
		if file.AuthMode == "apikey" {
			return ChatGPTLogin{}, errors.New("this Codex login is an API key, not a ChatGPT login: store the key with 'moat grant openai'")
		}
		return ChatGPTLogin{}, errors.New("not a ChatGPT login: it has no access and refresh tokens")
	}
	return l, nil
}

// Secret is l as a grant's secret.
func (l ChatGPTLogin) Secret() Secret {
	b, _ := json.Marshal(l) // strings always encode
	return NewSecret(b)
}

// chatgptTokenURL and chatgptClientID are where and as whom Codex renews
// its ChatGPT login (Codex 0.171.0).
const (
	chatgptTokenURL = "https://auth.openai.com/oauth/token"
	chatgptClientID = "app_EMoamEEZ73f0CkXaXp7hrann"
)

// chatgptApplier puts a ChatGPT login on Codex's requests to chatgpt.com:
// the access token as a bearer token and the account in
// ChatGPT-Account-Id, replacing the placeholders the agent sends.
type chatgptApplier struct{}

func (chatgptApplier) Channel() string    { return ChannelHTTPS }
func (chatgptApplier) HeaderName() string { return "Authorization" }

func (chatgptApplier) ApplyRequest(r *http.Request, _ Grant, secret Secret) (bool, error) {
	if hostName(r.URL.Host) != "chatgpt.com" {
		return false, nil // the token endpoint: renewing is moat's, not the agent's
	}
	l, err := ParseChatGPTLogin(secret.p.b)
	if err != nil {
		return false, errors.New("the codex grant's stored login is unreadable; run 'moat grant codex' again")
	}
	r.Header.Set("Authorization", "Bearer "+l.AccessToken)
	if l.AccountID != "" {
		r.Header.Set("Chatgpt-Account-Id", l.AccountID)
	}
	return true, nil
}

// Public gives the login's account id, which Codex needs in its own
// auth.json to find its account; it is an identifier, not a credential.
func (chatgptApplier) Public(secret Secret) map[string]string {
	l, err := ParseChatGPTLogin(secret.p.b)
	if err != nil {
		return nil
	}
	return map[string]string{"account_id": l.AccountID}
}

// Public returns the fields of g's credential that are not secret (an
// account id) for the agent's login file; nil for most kinds.
func Public(g Grant, secret Secret) map[string]string {
	if k, ok := LookupKind(g.Kind); ok {
		if p, ok := k.Apply.(interface {
			Public(Secret) map[string]string
		}); ok {
			return p.Public(secret)
		}
	}
	return nil
}

// Values returns the credentials secret holds as they travel on the
// wire, which nothing the agent sends may carry: the secret itself for
// most kinds; each token of a login.
func Values(g Grant, secret Secret) []string {
	if k, ok := LookupKind(g.Kind); ok {
		if v, ok := k.Apply.(interface{ Values(Secret) []string }); ok {
			return v.Values(secret)
		}
	}
	if secret.IsZero() {
		return nil
	}
	return []string{string(secret.p.b)}
}

// Values gives the login's tokens.
func (chatgptApplier) Values(secret Secret) []string {
	l, err := ParseChatGPTLogin(secret.p.b)
	if err != nil {
		return nil
	}
	var out []string
	for _, v := range []string{l.AccessToken, l.RefreshToken, l.IDToken} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (chatgptApplier) Expires(secret Secret) time.Time {
	l, err := ParseChatGPTLogin(secret.p.b)
	if err != nil {
		return time.Time{}
	}
	return jwtExpiry(l.AccessToken)
}

func (chatgptApplier) Refresh(ctx context.Context, client *http.Client, secret Secret) (Secret, error) {
	l, err := ParseChatGPTLogin(secret.p.b)
	if err != nil {
		return Secret{}, err
	}
	body, _ := json.Marshal(map[string]string{"client_id": chatgptClientID, "grant_type": "refresh_token",
		"refresh_token": l.RefreshToken})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, chatgptTokenURL, bytes.NewReader(body))
	if err != nil {
		return Secret{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Secret{}, fmt.Errorf("renewing the ChatGPT login: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Secret{}, fmt.Errorf("renewing the ChatGPT login: %s answered %s", chatgptTokenURL, resp.Status)
	}
	var got ChatGPTLogin
	if json.Unmarshal(raw, &got) != nil || got.AccessToken == "" {
		return Secret{}, fmt.Errorf("renewing the ChatGPT login: %s answered without an access token", chatgptTokenURL)
	}
	l.AccessToken = got.AccessToken
	if got.RefreshToken != "" {
		l.RefreshToken = got.RefreshToken
	}
	if got.IDToken != "" {
		l.IDToken = got.IDToken
	}
	return l.Secret(), nil
}

// jwtExpiry reads the exp claim of a JWT without checking its signature
// (only the token's issuer needs to trust it); zero when it has none.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}
