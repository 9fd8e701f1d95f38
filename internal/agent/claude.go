package agent

import (
	"encoding/json"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/grant"
)

// claudeConfigDir is where Claude Code keeps its settings, sessions and
// history (its .claude.json included, CLAUDE_CONFIG_DIR says so): one
// directory, kept per workspace.
const claudeConfigDir = "/home/moat/.claude"

// claude is Claude Code, Anthropic's coding agent: the native build
// (deps' claude-code), talking to api.anthropic.com.
var claude = Profile{
	Name:    "claude",
	Short:   "Run Claude Code in a sandboxed container",
	Install: []string{"claude-code"},
	Command: []string{"claude"},
	// An API key bills the API; a subscription token bills the user's
	// Claude plan. A run has one or the other: the proxy refuses both
	// grants together, so neither silently wins.
	Placeholders: []Placeholder{
		{Env: "ANTHROPIC_API_KEY", Grant: grant.Anthropic},
		{Env: "CLAUDE_CODE_OAUTH_TOKEN", Grant: grant.Claude},
	},
	State: []string{claudeConfigDir},
	// Answers to the screens the interactive CLI shows on a first start
	// (theme, "use this API key?", trusting the workspace, the bypass
	// mode warning), written when the state directory is made: in a
	// sandbox the answers are known, and the user may change them later.
	Seed: map[string]string{
		claudeConfigDir + "/.claude.json":  claudeFirstRun(),
		claudeConfigDir + "/settings.json": `{"skipDangerousModePermissionPrompt": true}` + "\n",
	},
	// Claude Code reads the managed (enterprise) memory file on Linux
	// before any user or project CLAUDE.md, and the agent cannot edit it.
	Instructions: "/etc/claude-code/CLAUDE.md",
	// --mcp-config adds the servers to those the user configured in the
	// CLI; it does not replace them.
	MCP:   &MCPSetup{File: "/etc/moat/claude-mcp.json", Args: []string{"--mcp-config", "/etc/moat/claude-mcp.json"}, Render: claudeMCP},
	Hosts: []string{"api.anthropic.com"},
	Defaults: Defaults{
		Env: map[string]string{
			"CLAUDE_CONFIG_DIR": claudeConfigDir,
			// No update checks, telemetry or error reports: the image pins
			// the version, and a sandbox reaches only the hosts it needs.
			"DISABLE_AUTOUPDATER":                      "1",
			"DISABLE_TELEMETRY":                        "1",
			"DISABLE_ERROR_REPORTING":                  "1",
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
		},
		Args: []DefaultArg{{
			Args:      []string{"--dangerously-skip-permissions"},
			DroppedBy: []string{"--permission-mode", "--allow-dangerously-skip-permissions"},
			Why:       "the container is the sandbox, so Claude Code does not stop to ask before each command or edit",
		}},
	},
}

// claudeFirstRun is the .claude.json of a Claude Code that has been
// onboarded, trusts the workspace and has approved the anthropic grant's
// placeholder key (it remembers a key by its last 20 characters).
func claudeFirstRun() string {
	k, _ := grant.LookupKind(grant.Anthropic)
	key := k.Placeholders["ANTHROPIC_API_KEY"]
	b, err := json.MarshalIndent(map[string]any{
		"hasCompletedOnboarding": true,
		"projects":               map[string]any{config.WorkspaceTarget: map[string]any{"hasTrustDialogAccepted": true}},
		"customApiKeyResponses":  map[string]any{"approved": []string{key[len(key)-20:]}, "rejected": []string{}},
	}, "", "  ")
	if err != nil {
		panic(err) // static data
	}
	return string(b) + "\n"
}

// claudeMCP writes MCP servers as Claude Code's --mcp-config file: stdio
// servers it starts itself, and HTTP (streamable) servers it reaches
// through the proxy, which adds a grant's credential on the way.
func claudeMCP(servers []config.MCPServer) ([]byte, error) {
	type server struct {
		Type    string            `json:"type"`
		Command string            `json:"command,omitempty"`
		Args    []string          `json:"args,omitempty"`
		Env     map[string]string `json:"env,omitempty"`
		URL     string            `json:"url,omitempty"`
	}
	all := map[string]server{}
	for _, s := range servers {
		if s.URL != nil {
			all[s.Name] = server{Type: "http", URL: s.URL.String()}
			continue
		}
		all[s.Name] = server{Type: "stdio", Command: s.Command[0], Args: s.Command[1:], Env: s.Env}
	}
	b, err := json.MarshalIndent(map[string]any{"mcpServers": all}, "", "  ")
	return append(b, '\n'), err
}
