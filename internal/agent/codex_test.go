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
