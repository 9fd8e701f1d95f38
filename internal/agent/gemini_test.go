package agent

import (
	"encoding/json"
	"path"
	"slices"
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
