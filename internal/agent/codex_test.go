package agent

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/grant"
)

// TestCodexLogsInWithThePlaceholder: the seeded auth.json is Codex's
// API-key login, holding the openai grant's placeholder, the value the
// proxy replaces with the key.
func TestCodexLogsInWithThePlaceholder(t *testing.T) {
	t.Parallel()
	var login map[string]string
	if err := json.Unmarshal([]byte(codex.Seed[codexHome+"/auth.json"]), &login); err != nil {
		t.Fatalf("the seeded auth.json: %v", err)
	}
	g, _ := grant.Builtin(grant.OpenAI)
	want := g.Placeholder()["OPENAI_API_KEY"]
	if login["auth_mode"] != "apikey" || login["OPENAI_API_KEY"] != want || want == "" {
		t.Fatalf("auth.json = %v, want an apikey login with the openai placeholder %q", login, want)
	}
}

// TestCodexHookReadsTheNote: the managed hook that hands the sandbox note
// to the model reads the file moat mounts the note at.
func TestCodexHookReadsTheNote(t *testing.T) {
	t.Parallel()
	var hooks struct {
		Hooks map[string][]struct {
			Hooks []struct{ Type, Command string }
		}
	}
	if err := json.Unmarshal([]byte(codex.Files["/etc/codex/hooks.json"]), &hooks); err != nil {
		t.Fatalf("hooks.json: %v", err)
	}
	start := hooks.Hooks["SessionStart"]
	if len(start) != 1 || len(start[0].Hooks) != 1 || start[0].Hooks[0].Type != "command" ||
		start[0].Hooks[0].Command != "cat "+codex.Instructions {
		t.Fatalf("hooks.json's SessionStart hooks = %+v, want one command printing %s", start, codex.Instructions)
	}
}

// TestCodexCommand: the bypass flag comes before the user's subcommand,
// where Codex takes it for exec, resume and the interactive CLI alike,
// and the flags that choose another mode drop it.
func TestCodexCommand(t *testing.T) {
	t.Parallel()
	const bypass = "--dangerously-bypass-approvals-and-sandbox"
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"codex", bypass}},
		{[]string{"exec", "resume", "--last", "go on"}, []string{"codex", bypass, "exec", "resume", "--last", "go on"}},
		{[]string{"exec", "-s", "workspace-write", "x"}, []string{"codex", "exec", "-s", "workspace-write", "x"}},
		{[]string{"--sandbox=read-only"}, []string{"codex", "--sandbox=read-only"}},
		{[]string{"-a", "on-request"}, []string{"codex", "-a", "on-request"}},
		{[]string{"--yolo", "exec", "x"}, []string{"codex", "--yolo", "exec", "x"}},
		{[]string{bypass}, []string{"codex", bypass}},
	}
	for _, tt := range tests {
		cfg, err := Apply(&config.Config{}, codex, tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Command, tt.want) {
			t.Errorf("args %q: command %q, want %q", tt.args, cfg.Command, tt.want)
		}
	}
}

// TestCodexMCP: agent.yaml's servers become mcp_servers tables of Codex's
// managed configuration, which Codex reads by itself (no arguments), each
// string a TOML basic string, whatever it holds. A stdio server is passed
// the proxy's variables and the grants' placeholders by name.
func TestCodexMCP(t *testing.T) {
	t.Parallel()
	cfg := parse(t, `mcp:
  - {name: notes, command: [notes-server, "say \"hi\"", "C:\\dir", "two\nlines", "del\x7f bell\x07", "é $HOME"], env: {B: "x=\"1\"", A: "${HOME}"}}
  - {name: docs, url: "https://mcp.example.com/mcp?q=\"1\""}
`)
	got, err := Apply(cfg, codex, []string{"exec", "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"codex", "--dangerously-bypass-approvals-and-sandbox", "exec", "hi"}; !slices.Equal(got.Command, want) {
		t.Errorf("command = %q, want %q: Codex reads the managed configuration by itself", got.Command, want)
	}
	file := agentFile(t, got, "/etc/codex/managed_config.toml")
	want := `# moat: agent.yaml's mcp servers, for this run. Codex adds them to those of $CODEX_HOME/config.toml.

[mcp_servers."notes"]
command = "notes-server"
args = ["say \"hi\"", "C:\\dir", "two\nlines", "del\u007F bell\u0007", "é $HOME"]
env_vars = ` + tomlArray(codexServerEnv()) + `
startup_timeout_sec = 60

[mcp_servers."notes".env]
"A" = "${HOME}"
"B" = "x=\"1\""

[mcp_servers."docs"]
url = "https://mcp.example.com/mcp?q=\"1\""
`
	if file != want {
		t.Errorf("managed_config.toml:\n%s\nwant:\n%s", file, want)
	}
	env := codexServerEnv()
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "OPENAI_API_KEY", "GITHUB_TOKEN"} {
		if !slices.Contains(env, name) {
			t.Errorf("env_vars %q: no %s", env, name)
		}
	}
}

// TestTOMLString: what TOML wants escaped in a basic string is, and bytes
// that are not UTF-8 (a TOML file must be) become U+FFFD.
func TestTOMLString(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"plain":               `"plain"`,
		`q"b\`:                `"q\"b\\"`,
		"\t\n\r":              `"\t\n\r"`,
		"\x00\x1f\x7f":        `"\u0000\u001F\u007F"`,
		"é ✓ \u2028":          "\"é ✓ \u2028\"",
		"bad\xffbyte":         "\"bad\uFFFDbyte\"",
		"$HOME ${X} 'single'": `"$HOME ${X} 'single'"`,
	}
	for in, want := range tests {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}
