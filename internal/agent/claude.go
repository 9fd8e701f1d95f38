package agent

import "github.com/moatsh/moat/internal/grant"

// claudeConfigDir is where Claude Code keeps its settings, sessions and
// history (its .claude.json included, CLAUDE_CONFIG_DIR says so): one
// directory, kept per workspace.
const claudeConfigDir = "/home/moat/.claude"

// claude is Claude Code, Anthropic's coding agent: the native build
// (deps' claude-code), talking to api.anthropic.com.
var claude = Profile{
	Name:         "claude",
	Short:        "Run Claude Code in a sandboxed container",
	Install:      []string{"claude-code"},
	Command:      []string{"claude"},
	Placeholders: []Placeholder{{Env: "ANTHROPIC_API_KEY", Grant: grant.Anthropic}},
	State:        []string{claudeConfigDir},
	// Claude Code reads the managed (enterprise) memory file on Linux
	// before any user or project CLAUDE.md, and the agent cannot edit it.
	Instructions: "/etc/claude-code/CLAUDE.md",
	Hosts:        []string{"api.anthropic.com"},
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
