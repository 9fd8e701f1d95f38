package agent

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/grant"
)

// Gemini CLI keeps everything (settings, sessions, history, its
// installation id) in $GEMINI_CLI_HOME/.gemini: one directory, kept per
// workspace. Pointing GEMINI_CLI_HOME at moat's home for the agent keeps
// it there whatever HOME the image's user has.
const (
	geminiHome = "/home/moat"
	geminiDir  = geminiHome + "/.gemini"
)

// geminiNoteDir holds the sandbox note. Gemini CLI has no managed memory
// file; it reads GEMINI.md in every workspace directory, and the system
// settings below make this directory one: a read-only mount outside the
// state directory, which the agent cannot change.
const geminiNoteDir = "/etc/gemini-cli/moat"

// geminiSystemSettings are Gemini CLI's system settings, which override
// the user's and the workspace's; the CLI reads them only from a file
// owned by root that no one else can write (a read-only mount here). They
// turn off usage statistics (Clearcut, to play.googleapis.com, and the
// installation id sent with each request), OpenTelemetry, update checks
// and self-updates (the image pins the version), and folder trust (the
// container is the boundary; it would otherwise ask about the note's
// directory), and add the note's directory to the workspace.
const geminiSystemSettings = `{
  "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "security": {"folderTrust": {"enabled": false}},
  "context": {"includeDirectories": ["` + geminiNoteDir + `"]}
}
`

// geminiUserSettings are the user settings a new state directory starts
// with: the API key is the way in, so the interactive CLI does not ask how
// to sign in. The agent, or the user, may change them.
const geminiUserSettings = `{"security": {"auth": {"selectedType": "gemini-api-key"}}}
`

// gemini is Gemini CLI, Google's coding agent (deps' gemini-cli, the
// @google/gemini-cli bundle on its own node), talking to the Gemini API.
var gemini = Profile{
	Name:         "gemini",
	Short:        "Run Gemini CLI in a sandboxed container",
	Install:      []string{"gemini-cli"},
	Command:      []string{"gemini"},
	Placeholders: []Placeholder{{Env: "GEMINI_API_KEY", Grant: grant.Gemini}},
	State:        []string{geminiDir},
	Instructions: geminiNoteDir + "/GEMINI.md",
	Files:        map[string]string{"/etc/gemini-cli/settings.json": geminiSystemSettings},
	Seed:         map[string]string{geminiDir + "/settings.json": geminiUserSettings},
	// The system defaults are the lowest layer of Gemini CLI's settings,
	// read by the CLI itself (under the same ownership rule as the system
	// settings): their mcpServers join the user's and the workspace's,
	// which win for a server of the same name (what the agent could do
	// with that, it can do with a server of its own). The system
	// settings, which would win, are a static file.
	MCP:   &MCPSetup{File: "/etc/gemini-cli/system-defaults.json", Render: geminiMCP},
	Hosts: []string{"generativelanguage.googleapis.com"},
	Defaults: Defaults{
		Env: map[string]string{
			"GEMINI_CLI_HOME": geminiHome,
			// The container is the sandbox: never start Docker or Podman
			// for another one (this wins over -s and the settings).
			"GEMINI_SANDBOX": "false",
			// Trust /workspace, which -p otherwise refuses to run in.
			"GEMINI_CLI_TRUST_WORKSPACE": "true",
		},
		Args: []DefaultArg{{
			Args:      []string{"--approval-mode", "yolo"},
			DroppedBy: []string{"--approval-mode", "--yolo", "-y"},
			Why:       "the container is the sandbox, so Gemini CLI does not stop to ask before each command or edit",
		}},
	},
}

// geminiMCP writes MCP servers as Gemini CLI settings' mcpServers: stdio
// servers the CLI starts itself, and streamable HTTP servers (httpUrl) it
// reaches through the proxy, which adds a grant's credential on the way.
//
// Gemini CLI expands $NAME and ${NAME} in every string of a settings
// file, from its environment, and again in a server's env values (from
// the environment it gives the server), with no way to say a dollar sign
// as such. So every "$" is written as ${=:-$} ("=" is never a variable's
// name, so its default, "$", is what is left), and in env values as
// \${=:-$}, which the first expansion makes \$ and the second "$".
//
// A stdio server gets the CLI's environment less what looks like a
// credential, the proxy's variables included: each is set in the server's
// env from the CLI's own (empty under network.policy none, where moat
// sets none), unless agent.yaml sets it.
func geminiMCP(servers []config.MCPServer) ([]byte, error) {
	type server struct {
		Command string            `json:"command,omitempty"`
		Args    []string          `json:"args,omitempty"`
		Env     map[string]string `json:"env,omitempty"`
		HTTPURL string            `json:"httpUrl,omitempty"`
	}
	literal := func(s string) string { return strings.ReplaceAll(s, "$", "${=:-$}") }
	all := map[string]server{}
	for _, s := range servers {
		if s.URL != nil {
			all[s.Name] = server{HTTPURL: literal(s.URL.String())}
			continue
		}
		env := map[string]string{}
		for _, k := range MCPRunEnv {
			env[k] = "${" + k + "}"
		}
		for k, v := range s.Env {
			env[k] = strings.ReplaceAll(v, "$", `\${=:-$}`)
		}
		args := slices.Clone(s.Command[1:])
		for i := range args {
			args[i] = literal(args[i])
		}
		all[s.Name] = server{Command: literal(s.Command[0]), Args: args, Env: env}
	}
	b, err := json.MarshalIndent(map[string]any{"mcpServers": all}, "", "  ")
	return append(b, '\n'), err
}
