package agent

import (
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/config"
)

// geminiSettings is the part of Gemini CLI's settings schema moat writes.
type geminiSettings struct {
	General struct {
		EnableAutoUpdate             *bool `json:"enableAutoUpdate"`
		EnableAutoUpdateNotification *bool `json:"enableAutoUpdateNotification"`
	} `json:"general"`
	Privacy struct {
		UsageStatisticsEnabled *bool `json:"usageStatisticsEnabled"`
	} `json:"privacy"`
	Telemetry struct {
		Enabled *bool `json:"enabled"`
	} `json:"telemetry"`
	Security struct {
		FolderTrust struct {
			Enabled *bool `json:"enabled"`
		} `json:"folderTrust"`
		Auth struct {
			SelectedType string `json:"selectedType"`
		} `json:"auth"`
	} `json:"security"`
	Context struct {
		IncludeDirectories []string `json:"includeDirectories"`
	} `json:"context"`
}

func decodeGeminiSettings(t *testing.T, name, text string) geminiSettings {
	t.Helper()
	var s geminiSettings
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		t.Fatalf("%s is not JSON: %v", name, err)
	}
	return s
}

// TestGeminiSettings: the system settings turn off what would leave the
// sandbox or prompt, and make the note's directory a workspace directory,
// which is how Gemini CLI comes to read the note; the seed picks the API
// key, so the interactive CLI does not ask how to sign in.
func TestGeminiSettings(t *testing.T) {
	t.Parallel()
	p, _ := Lookup("gemini")
	text, ok := p.Files["/etc/gemini-cli/settings.json"]
	if !ok {
		t.Fatalf("no system settings among the files: %q", p.Files)
	}
	s := decodeGeminiSettings(t, "the system settings", text)
	off := map[string]*bool{
		"general.enableAutoUpdate":             s.General.EnableAutoUpdate,
		"general.enableAutoUpdateNotification": s.General.EnableAutoUpdateNotification,
		"privacy.usageStatisticsEnabled":       s.Privacy.UsageStatisticsEnabled,
		"telemetry.enabled":                    s.Telemetry.Enabled,
		"security.folderTrust.enabled":         s.Security.FolderTrust.Enabled,
	}
	for key, v := range off {
		if v == nil || *v {
			t.Errorf("system settings: %s is not false", key)
		}
	}
	if path.Base(p.Instructions) != "GEMINI.md" || !slices.Contains(s.Context.IncludeDirectories, path.Dir(p.Instructions)) {
		t.Errorf("system settings include %q, want the directory of %s, a GEMINI.md", s.Context.IncludeDirectories, p.Instructions)
	}
	seed := decodeGeminiSettings(t, "the seeded user settings", p.Seed[geminiDir+"/settings.json"])
	if seed.Security.Auth.SelectedType != "gemini-api-key" {
		t.Errorf("seeded settings select %q, want gemini-api-key", seed.Security.Auth.SelectedType)
	}
	if p.Defaults.Env["GEMINI_CLI_HOME"]+"/.gemini" != p.State[0] {
		t.Errorf("GEMINI_CLI_HOME=%s does not hold the state directory %s", p.Defaults.Env["GEMINI_CLI_HOME"], p.State[0])
	}
}

// TestGeminiApprovalMode: YOLO by default; any approval flag of the
// user's replaces it, since the CLI refuses --yolo with --approval-mode.
func TestGeminiApprovalMode(t *testing.T) {
	t.Parallel()
	p, _ := Lookup("gemini")
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"gemini", "--approval-mode", "yolo"}},
		{[]string{"-r", "latest", "-p", "hi"}, []string{"gemini", "--approval-mode", "yolo", "-r", "latest", "-p", "hi"}},
		{[]string{"--approval-mode=auto_edit"}, []string{"gemini", "--approval-mode=auto_edit"}},
		{[]string{"--approval-mode", "default"}, []string{"gemini", "--approval-mode", "default"}},
		{[]string{"--yolo"}, []string{"gemini", "--yolo"}},
		{[]string{"-y"}, []string{"gemini", "-y"}},
	}
	for _, tt := range tests {
		cfg, err := Apply(&config.Config{}, p, tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Command, tt.want) {
			t.Errorf("args %q: command %q, want %q", tt.args, cfg.Command, tt.want)
		}
	}
}

// TestGeminiMCP: agent.yaml's servers become the mcpServers of Gemini
// CLI's system defaults, which the CLI reads by itself (no arguments):
// stdio servers with the proxy's variables set from the CLI's, unless
// agent.yaml sets them, and streamable HTTP servers as httpUrl. Every
// string reaches the server as agent.yaml wrote it, through the CLI's
// expansions of variables (geminiExpand).
func TestGeminiMCP(t *testing.T) {
	t.Parallel()
	tricky := []string{"$HOME", "${HOME}", "${NOPE:-d}", `\$HOME`, `a\\$b`, "$", "$$", "cost: 5$", `say "hi"`, "two\nlines"}
	var yaml strings.Builder
	yaml.WriteString("mcp:\n  - name: notes\n    command: [notes-server")
	for _, s := range tricky {
		j, _ := json.Marshal(s) // a JSON string is a YAML double-quoted one
		yaml.WriteString(", " + string(j))
	}
	yaml.WriteString("]\n    env: {HTTPS_PROXY: \"http://mine\"")
	for i, s := range tricky {
		j, _ := json.Marshal(s)
		yaml.WriteString(", V" + string(rune('A'+i)) + ": " + string(j))
	}
	yaml.WriteString("}\n  - {name: docs, url: \"https://mcp.example.com/$x/mcp\"}\n")
	got, err := Apply(parse(t, yaml.String()), gemini, []string{"-p", "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gemini", "--approval-mode", "yolo", "-p", "hi"}; !slices.Equal(got.Command, want) {
		t.Errorf("command = %q, want %q: Gemini CLI reads the system defaults by itself", got.Command, want)
	}
	var settings struct {
		MCPServers map[string]struct {
			Command, HTTPURL string
			Args             []string
			Env              map[string]string
		} `json:"mcpServers"`
	}
	file := agentFile(t, got, "/etc/gemini-cli/system-defaults.json")
	if err := json.Unmarshal([]byte(file), &settings); err != nil {
		t.Fatalf("system-defaults.json: %v\n%s", err, file)
	}
	cliEnv := map[string]string{"HOME": "/home/moat", "HTTPS_PROXY": "http://moat:token@moat-proxy:8080", "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "b": "B"}
	notes := settings.MCPServers["notes"]
	if got := geminiExpand(t, notes.Command, cliEnv, false); got != "notes-server" {
		t.Errorf("command %q gets to the CLI as %q", notes.Command, got)
	}
	if len(notes.Args) != len(tricky) {
		t.Fatalf("args = %q, want %d", notes.Args, len(tricky))
	}
	for i, want := range tricky {
		if got := geminiExpand(t, notes.Args[i], cliEnv, false); got != want {
			t.Errorf("argument %q, written %q, gets to the server as %q", want, notes.Args[i], got)
		}
		env := notes.Env["V"+string(rune('A'+i))]
		if got := geminiExpand(t, env, cliEnv, true); got != want {
			t.Errorf("env value %q, written %q, gets to the server as %q", want, env, got)
		}
	}
	for name, want := range map[string]string{"HTTPS_PROXY": "http://mine", "SSL_CERT_FILE": cliEnv["SSL_CERT_FILE"]} {
		if got := geminiExpand(t, notes.Env[name], cliEnv, true); got != want {
			t.Errorf("%s, written %q, gets to the server as %q, want %q", name, notes.Env[name], got, want)
		}
	}
	for _, name := range MCPRunEnv {
		if _, ok := notes.Env[name]; !ok {
			t.Errorf("the local server's env has no %s: %v", name, notes.Env)
		}
	}
	if docs := settings.MCPServers["docs"]; geminiExpand(t, docs.HTTPURL, cliEnv, false) != "https://mcp.example.com/$x/mcp" || docs.Command != "" {
		t.Errorf("remote server = %+v", docs)
	}
}

// geminiExpand is what Gemini CLI 0.61.0 makes of a string in its
// settings, as read in its bundle: it expands $NAME, ${NAME} and
// ${NAME:-default} from env when a settings file is loaded
// (resolveEnvVarsInString); a server's env value then goes through
// dotenv-expand, which also expands $NAME and ${NAME} not preceded by a
// backslash and turns \$ into $. geminiMCP leaves dotenv-expand nothing to
// expand, which the test checks rather than model it.
func geminiExpand(t *testing.T, s string, env map[string]string, envValue bool) string {
	t.Helper()
	re := regexp.MustCompile(`\$(?:(\w+)|\{([^}]+?)(?::-([^}]*))?\})`)
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		last = m[1]
		var name string
		if m[2] >= 0 {
			name = s[m[2]:m[3]]
		} else {
			name = s[m[4]:m[5]]
		}
		switch v, ok := env[name]; {
		case ok:
			b.WriteString(v)
		case m[6] >= 0:
			b.WriteString(s[m[6]:m[7]])
		default:
			b.WriteString(s[m[0]:m[1]])
		}
	}
	b.WriteString(s[last:])
	out := b.String()
	if !envValue {
		return out
	}
	if loose := regexp.MustCompile(`(^|[^\\])\$`).FindString(out); loose != "" {
		t.Errorf("%q reaches dotenv-expand as %q, with a $ it could expand", s, out)
	}
	return strings.ReplaceAll(out, `\$`, "$")
}
