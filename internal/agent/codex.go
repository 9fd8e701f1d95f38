package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moatsh/moat/internal/config"
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
		{Env: "OPENAI_API_KEY", Grant: grant.OpenAI, File: codexHome + "/auth.json",
			Login: func(map[string]string) string { return codexAPIKeyLogin() }},
		{Grant: grant.Codex, File: codexHome + "/auth.json",
			Login: func(public map[string]string) string { return codexChatGPTLogin(public["account_id"]) }},
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
	Seed: map[string]string{codexHome + "/auth.json": codexAPIKeyLogin()},
	// Codex has no flag for a file of MCP servers, and reads the legacy
	// managed configuration by itself: its mcp_servers join those of the
	// user's $CODEX_HOME/config.toml, and win key by key over a server of
	// the same name. config.toml above is static and under the user's.
	MCP:   &MCPSetup{File: "/etc/codex/managed_config.toml", Render: codexMCP},
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
# No apps MCP server (chatgpt.com/backend-api/ps/mcp) with a ChatGPT login.
apps = false
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
// login). The proxy replaces the bearer token on chatgpt.com. The account
// is the real one, an identifier rather than a secret: Codex looks it up
// in chatgpt.com's list of the login's accounts, and stops when it is not
// there.
func codexChatGPTLogin(account string) string {
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

// codexMCPStartup is how long Codex waits for a local MCP server to start.
const codexMCPStartup = 60

// codexMCP writes MCP servers as mcp_servers tables of Codex's TOML
// configuration: stdio servers Codex starts itself, and streamable HTTP
// servers it reaches through the proxy, which adds a grant's credential
// on the way. Codex gives a stdio server only the variables it names
// (env_vars): the proxy's and the grants' placeholders, when set.
func codexMCP(servers []config.MCPServer) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# moat: agent.yaml's mcp servers, for this run. Codex adds them to those of $CODEX_HOME/config.toml.\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "\n[mcp_servers.%s]\n", tomlString(s.Name))
		if s.URL != nil {
			fmt.Fprintf(&b, "url = %s\n", tomlString(s.URL.String()))
			continue
		}
		fmt.Fprintf(&b, "command = %s\nargs = %s\nenv_vars = %s\n", tomlString(s.Command[0]), tomlArray(s.Command[1:]), tomlArray(codexServerEnv()))
		// Codex gives a server 10 s to start by default, which a server
		// started in a container on a busy machine can miss (its tools
		// are then silently absent).
		fmt.Fprintf(&b, "startup_timeout_sec = %d\n", codexMCPStartup)
		if len(s.Env) > 0 {
			fmt.Fprintf(&b, "\n[mcp_servers.%s.env]\n", tomlString(s.Name))
			for _, k := range slices.Sorted(maps.Keys(s.Env)) {
				fmt.Fprintf(&b, "%s = %s\n", tomlString(k), tomlString(s.Env[k]))
			}
		}
	}
	return []byte(b.String()), nil
}

// codexServerEnv are the variables Codex passes on to a stdio server when
// they are set: moat's for the proxy, and every grant's placeholders.
func codexServerEnv() []string {
	names := slices.Clone(MCPRunEnv)
	for _, k := range grant.Kinds() {
		names = append(names, slices.Collect(maps.Keys(k.Placeholders))...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// tomlString quotes s as a TOML basic string: the quote, the backslash
// and the control characters escaped (JSON leaves DEL as it is, which
// TOML refuses), and bytes that are not UTF-8 replaced, as TOML is.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r) // utf8.RuneError for a byte that is not UTF-8
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlArray is a TOML array of strings.
func tomlArray(ss []string) string {
	quoted := make([]string, len(ss))
	for i, s := range ss {
		quoted[i] = tomlString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"

}
