package agent

import (
	"encoding/base64"
	"encoding/json"

	"github.com/moatsh/moat/internal/grant"
)

// codexHome is where Codex keeps its login, settings, sessions, history
// and databases (CODEX_HOME says so): one directory, kept per workspace.
const codexHome = "/home/moat/.codex"

// codex is Codex, OpenAI's coding agent: the native build (deps' codex),
// talking to api.openai.com with an API key. The comments below say what
// Codex 0.171.0 was seen to do that each setting answers.
var codex = Profile{
	Name:    "codex",
	Short:   "Run Codex in a sandboxed container",
	Install: []string{"codex"},
	Command: []string{"codex"},
	// Codex reads its login from $CODEX_HOME/auth.json: an API key (the
	// openai grant) or a ChatGPT login (the codex grant), each a
	// read-only file of placeholders for a run with that grant, so the
	// user picks per run. OPENAI_API_KEY is for the agent's own tools (an
	// SDK it runs, say); Codex itself does not read it.
	Placeholders: []Placeholder{
		{Env: "OPENAI_API_KEY", Grant: grant.OpenAI, File: codexHome + "/auth.json", Content: codexAPIKeyLogin()},
		{Grant: grant.Codex, File: codexHome + "/auth.json", Content: codexChatGPTLogin()},
	},
	State: []string{codexHome},
	// codexHooks has Codex add this file to every session as developer
	// context; it is outside the state directory, so the agent cannot
	// edit it.
	Instructions: "/etc/codex/moat-sandbox.md",
	Files: map[string]string{
		"/etc/codex/config.toml": codexConfig,
		"/etc/codex/hooks.json":  codexHooks,
	},
	// Neither OPENAI_API_KEY nor CODEX_API_KEY logs the interactive CLI in
	// (it shows its sign-in screen); an API-key login in auth.json, what
	// 'codex login --with-api-key' writes, serves both it and 'codex exec'.
	// The seed gives the login files above a place to be mounted on that
	// the agent owns (Docker would make a root-owned one).
	Seed:  map[string]string{codexHome + "/auth.json": codexAPIKeyLogin()},
	Hosts: []string{"api.openai.com"},
	Defaults: Defaults{
		Env: map[string]string{"CODEX_HOME": codexHome},
		Args: []DefaultArg{{
			Args: []string{"--dangerously-bypass-approvals-and-sandbox"},
			// Codex refuses the flag twice or with -a/--approve-for-me,
			// and lets it silently win over --sandbox: each drops it.
			DroppedBy: []string{"--sandbox", "-s", "--ask-for-approval", "-a", "--approve-for-me",
				"--dangerously-bypass-approvals-and-sandbox", "--yolo"},
			Why: "the container is the sandbox: Codex neither asks before commands nor runs its own sandbox, whose bubblewrap cannot make namespaces in a container",
		}},
	},
}

// codexConfig is Codex's system configuration (/etc/codex/config.toml):
// defaults under the user's $CODEX_HOME/config.toml and -c, which can
// turn each back on. The image pins the version, and a run reaches only
// the hosts it needs.
const codexConfig = `# moat: Codex in a sandbox. $CODEX_HOME/config.toml and -c override these.

# No release check (api.github.com).
check_for_update_on_startup = false

# No metrics (ab.chatgpt.com).
[analytics]
enabled = false

[features]
# No plugin marketplace sync (github.com, api.github.com, chatgpt.com).
plugins = false
# No model list from chatgpt.com with an API key.
api_key_model_discovery = false
# The interactive CLI would start a background server that copies the
# Codex binary (over 300 MB) into $CODEX_HOME, and outlive the session.
daemon_auto_start = false
`

// codexHooks are Codex's managed hooks (/etc/codex/hooks.json): the
// output of a session-start hook reaches the model as developer context,
// at every new or resumed session. Codex has no file of managed standing
// instructions outside $CODEX_HOME, which is the agent's to write.
const codexHooks = `{"hooks":{"SessionStart":[{"hooks":[{"type":"command","command":"cat /etc/codex/moat-sandbox.md"}]}]}}
`

// codexAPIKeyLogin is the auth.json of an API-key login with the openai
// grant's placeholder as the key.
func codexAPIKeyLogin() string {
	k, _ := grant.LookupKind(grant.OpenAI)
	b, _ := json.Marshal(map[string]string{"auth_mode": "apikey", "OPENAI_API_KEY": k.Placeholders["OPENAI_API_KEY"]})
	return string(b) + "\n"
}

// codexChatGPTLogin is the auth.json of a ChatGPT login whose tokens are
// placeholders: unsigned JWTs with the claims Codex reads and an expiry
// far off, so Codex never tries to renew them (the proxy renews the real
// login). The proxy replaces the bearer token and the account header on
// chatgpt.com.
func codexChatGPTLogin() string {
	const account = "moat-placeholder-account"
	auth := map[string]any{"chatgpt_plan_type": "plus", "chatgpt_account_id": account,
		"chatgpt_user_id": "moat-placeholder-user", "user_id": "moat-placeholder-user"}
	claims := map[string]any{"exp": 4102444800, "email": "moat-placeholder@example.invalid", "https://api.openai.com/auth": auth}
	b, _ := json.Marshal(map[string]any{
		"auth_mode": "chatgpt", "OPENAI_API_KEY": nil, "last_refresh": "2026-01-01T00:00:00Z",
		"tokens": map[string]any{"id_token": placeholderJWT(claims), "access_token": placeholderJWT(claims),
			"refresh_token": "moat-placeholder-refresh-token", "account_id": account},
	})
	return string(b) + "\n"
}

// placeholderJWT is an unsigned JWT carrying claims.
func placeholderJWT(claims map[string]any) string {
	body, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(body) + ".moat-placeholder"
}
