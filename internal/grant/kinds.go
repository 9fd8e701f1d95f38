package grant

import (
	"slices"
	"strings"
)

// KindSpec declares one grant kind: everything moat does differently for
// it. Validation, injection, placeholders, 'moat grant' (its subcommands,
// help, token sources and errors) and the kinds tables in docs/grants.md
// all read the table below, so a kind whose credential is a static header
// is one entry.
type KindSpec struct {
	Kind Kind
	// Credential says what the stored secret is, for help, prompts, errors
	// and docs: "GitHub token".
	Credential string
	// Hosts are where the credential goes. Nil means each grant names its
	// own hosts and header and is named by the user (http); otherwise the
	// grant is named after the kind and its hosts are fixed.
	Hosts []string
	// Apply is how the credential is used (see Applier).
	Apply Applier
	// Placeholders are the environment variables the agent gets, with
	// well-formed but plainly fake values (see placeholder.go).
	Placeholders map[string]string
	// Token says where 'moat grant KIND' looks for the secret when no
	// flag gives it.
	Token TokenSource
	// Parse, when set, checks what 'moat grant KIND' read and returns
	// the secret to store (a login file's tokens, say); nil stores what
	// was read as it is.
	Parse func([]byte) (Secret, error)
	// Note is said after the grant is stored, when there is more to know.
	Note string
	// Docs are the kind's rows in the "What the agent sees" table of
	// docs/grants.md, one per way the credential is applied.
	Docs []DocRow
}

// TokenSource is where 'moat grant KIND' finds a token that neither
// --token nor --token-stdin gives, before prompting on a terminal.
type TokenSource struct {
	Env []string // environment variables, tried in order
	// File is a file holding the secret, tried after Env: FileIn names
	// the directory (an environment variable), FileDefault the directory
	// when that is unset ("~/" is the home directory).
	File, FileIn, FileDefault string
	Command                   []string // a command that prints the token, tried next if installed
	Login                     string   // the command that logs Command in, for the hint
	// Hint replaces the usual remedy ("Pipe it in with ..., or set ENV")
	// when nothing gave a token.
	Hint string
}

// DocRow is one row of the "What the agent sees" table: how the
// credential is sent and where to, in Markdown.
type DocRow struct {
	InjectedAs string
	Into       string
}

// kinds is the table of grant kinds, in the order help and docs list them.
var kinds = []KindSpec{
	{
		Kind:       GitHub,
		Credential: "GitHub token",
		Hosts:      []string{"api.github.com", "github.com"},
		Apply:      githubApplier{},
		Placeholders: map[string]string{ // a classic PAT: ghp_ and 36 characters
			"GH_TOKEN":     fake("ghp_moatplaceholder", 40, ""),
			"GITHUB_TOKEN": fake("ghp_moatplaceholder", 40, ""),
		},
		Token: TokenSource{Env: []string{"GITHUB_TOKEN", "GH_TOKEN"},
			Command: []string{"gh", "auth", "token", "--hostname", "github.com"}, Login: "gh auth login"},
		Docs: []DocRow{
			{"`Authorization: Bearer <token>`", "`api.github.com`"},
			{"`Authorization: Basic` (`x-access-token:<token>`)",
				"`github.com`, git smart-HTTP and LFS paths only (clone, fetch, push), not the web UI"},
		},
	},
	{
		Kind:         Anthropic,
		Credential:   "Anthropic API key",
		Hosts:        []string{"api.anthropic.com"},
		Apply:        HeaderApplier{Header: "X-Api-Key"},
		Placeholders: map[string]string{"ANTHROPIC_API_KEY": fake("sk-ant-api03-moat-placeholder-", 108, "AA")}, // keys end "AA"
		Token:        TokenSource{Env: []string{"ANTHROPIC_API_KEY"}},
		Docs:         []DocRow{{"`x-api-key: <key>`", "`api.anthropic.com`"}},
	},
	{
		// A subscription login, for Claude Code: the long-lived OAuth
		// token 'claude setup-token' prints. Claude Code sends it as a
		// bearer token (with its OAuth beta header) and bills the plan,
		// not the API, when CLAUDE_CODE_OAUTH_TOKEN holds a token of this
		// shape.
		Kind:         Claude,
		Credential:   "Claude subscription token",
		Hosts:        []string{"api.anthropic.com"},
		Apply:        HeaderApplier{Header: "Authorization", Prefix: "Bearer "},
		Placeholders: map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": fake("sk-ant-oat01-moat-placeholder-", 108, "AA")},
		Token: TokenSource{Env: []string{"CLAUDE_CODE_OAUTH_TOKEN"},
			Hint: "Run 'claude setup-token' (it signs in with your Claude Pro or Max plan and prints a token valid for a year), then pipe the token into 'moat grant claude --token-stdin'."},
		Docs: []DocRow{{"`Authorization: Bearer <token>`", "`api.anthropic.com`"}},
	},
	{
		// Codex signed in with ChatGPT: its auth.json's OAuth tokens. The
		// proxy sends the access token, and renews it with the refresh
		// token when it expires; the agent's auth.json holds placeholders.
		Kind:       Codex,
		Credential: "ChatGPT login for Codex",
		Hosts:      []string{"chatgpt.com", "auth.openai.com"},
		Apply:      chatgptApplier{},
		Token: TokenSource{File: "auth.json", FileIn: "CODEX_HOME", FileDefault: "~/.codex",
			Hint: "Sign Codex in with ChatGPT ('codex login'), then run 'moat grant codex', or pipe its auth.json into 'moat grant codex --token-stdin'."},
		Parse: func(b []byte) (Secret, error) {
			l, err := ParseChatGPTLogin(b)
			return l.Secret(), err
		},
		Note: "moat renews this login itself, and ChatGPT then retires the refresh token the login started with: if Codex on this machine shares the login, it will ask you to sign in again. To keep them apart, give moat a login of its own: CODEX_HOME=~/.codex-moat codex login, then CODEX_HOME=~/.codex-moat moat grant codex.",
		Docs: []DocRow{
			{"`Authorization: Bearer <access token>`, `ChatGPT-Account-Id: <account>`", "`chatgpt.com`"},
			{"the refresh token, sent by moat (at run start) and its proxy (during a run) to renew the access token; the agent's own requests get nothing", "`auth.openai.com`"},
		},
	},
	{
		Kind:         OpenAI,
		Credential:   "OpenAI API key",
		Hosts:        []string{"api.openai.com"},
		Apply:        HeaderApplier{Header: "Authorization", Prefix: "Bearer "},
		Placeholders: map[string]string{"OPENAI_API_KEY": fake("sk-proj-moat-placeholder-", 164, "")},
		Token:        TokenSource{Env: []string{"OPENAI_API_KEY"}},
		Docs:         []DocRow{{"`Authorization: Bearer <key>`", "`api.openai.com`"}},
	},
	{
		// Gemini CLI and Google's SDKs send the key in x-goog-api-key,
		// never in ?key=; a Google API key is AIzaSy and 33 characters.
		Kind:         Gemini,
		Credential:   "Gemini API key",
		Hosts:        []string{"generativelanguage.googleapis.com"},
		Apply:        HeaderApplier{Header: "X-Goog-Api-Key"},
		Placeholders: map[string]string{"GEMINI_API_KEY": fake("AIzaSy-moat-placeholder-", 39, "")},
		Token:        TokenSource{Env: []string{"GEMINI_API_KEY"}},
		Docs:         []DocRow{{"`x-goog-api-key: <key>`", "`generativelanguage.googleapis.com`"}},
	},
	{
		// The agent sends whatever it likes in the header; the proxy
		// replaces it, so there is no placeholder variable.
		Kind:       HTTP,
		Credential: "header's whole value",
		Apply:      HeaderApplier{}, // the grant's own header, the secret verbatim
		Token: TokenSource{
			Hint: "Pipe the header's value in with --token-stdin (for a bearer token, the value is 'Bearer <token>')."},
		Docs: []DocRow{{"`<header>: <stored value>`", "its hosts"}},
	},
	{
		// An SSH key, from a file (sealed here) or kept by the user's
		// ssh-agent, that signs only for sessions bound to its hosts.
		// 'moat grant ssh' has a command of its own; in a run the
		// proxy's SSH agent signs with it (internal/egress, sshagent.go).
		Kind:       SSH,
		Credential: "SSH key",
		Apply:      sshApplier{},
		Docs: []DocRow{{"signatures by moat's SSH agent, only for sessions bound to one of its hosts " +
			"whose tunnel the proxy carries", "its hosts, over SSH"}},
	},
}

// Kinds returns the table of grant kinds, in order. The entries share
// their slices and maps with the table: do not modify them.
func Kinds() []KindSpec { return slices.Clone(kinds) }

// LookupKind returns kind's entry in the table.
func LookupKind(kind Kind) (KindSpec, bool) {
	for _, k := range kinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return KindSpec{}, false
}

// KindChoices lists the kinds for errors: "github, anthropic, ..., http or ssh".
func KindChoices() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k.Kind)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Fixed reports whether the kind's grants are named after it, with its
// hosts, rather than named by the user with hosts of their own.
func (k KindSpec) Fixed() bool { return k.Hosts != nil }

// header is the header the kind's credential is sent in, for 'moat grant
// list', or "" when each grant names its own or the kind sets no one header.
func (k KindSpec) header() string {
	if h, ok := k.Apply.(interface{ HeaderName() string }); ok {
		return h.HeaderName()
	}
	return ""
}
