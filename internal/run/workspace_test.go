package run

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/policy"
)

// TestOpenWorkspaceChecksBeforeReading: a workspace moat refuses (here,
// moat's home) is refused before its agent.yaml is read, so a broken or
// hostile agent.yaml there gets no say.
func TestOpenWorkspaceChecksBeforeReading(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	if err := os.WriteFile(filepath.Join(m.Store.Root, "agent.yaml"), []byte("bogus: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := m.OpenWorkspace(m.Store.Root)
	var pp *ProtectedPathError
	if !errors.As(err, &pp) {
		t.Fatalf("got %v, want a ProtectedPathError", err)
	}
}

func TestOpenWorkspaceLoadsAgentYAML(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	dir := writeWorkspace(t, "command: [make, test]\n")
	ws, err := m.OpenWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(dir)
	if ws.Path() != want || !slices.Equal(ws.Config().Command, []string{"make", "test"}) {
		t.Fatalf("got %s %q, want %s and agent.yaml's command", ws.Path(), ws.Config().Command, want)
	}
	if _, err := m.OpenWorkspace(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such directory") {
		t.Fatalf("got %v, want the missing directory refused", err)
	}
}

// TestRunUsesTheOpenedConfig: what a caller adds to the opened workspace's
// config is what runs.
func TestRunUsesTheOpenedConfig(t *testing.T) {
	t.Parallel()
	m, eng := newTestManager(t)
	ws, err := m.OpenWorkspace(writeWorkspace(t, "command: [make]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := *ws.Config()
	cfg.Command = []string{"agent", "--flag"}
	if _, err := m.Run(context.Background(), Options{Opened: ws.WithConfig(&cfg), Detach: true}); err != nil {
		t.Fatal(err)
	}
	if got := agentSpec(t, eng).Cmd; !slices.Equal(got[len(got)-2:], []string{"agent", "--flag"}) {
		t.Fatalf("the agent runs %q, want it to end with the opened config's command", got)
	}
}

// TestRunAsksApprovalForWhatTheOpenedConfigAdds: a profile's additions are
// approved like agent.yaml's own.
func TestRunAsksApprovalForWhatTheOpenedConfigAdds(t *testing.T) {
	t.Parallel()
	m := noTerminal(t)
	ws, err := m.OpenWorkspace(writeWorkspace(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	rule, err := policy.ParseRule("api.agent.example", policy.SourceAllow)
	if err != nil {
		t.Fatal(err)
	}
	added := &config.Config{Env: map[string]string{"AGENT_MODE": "sandbox"},
		Network: config.Network{Allow: []config.AllowRule{{Text: "api.agent.example", Rule: rule}}}}
	_, err = m.Run(context.Background(), Options{Opened: ws.WithConfig(added), Detach: true, Command: []string{"true"}})
	var na *NotApprovedError
	if !errors.As(err, &na) {
		t.Fatalf("got %v, want a NotApprovedError", err)
	}
	for _, want := range []string{"AGENT_MODE=sandbox", "api.agent.example"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRunRefusesTwoWorkspaces(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	ws, err := m.OpenWorkspace(writeWorkspace(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Run(context.Background(), Options{Opened: ws, Workspace: "elsewhere", Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "set Opened or Workspace, not both") {
		t.Fatalf("got %v, want the options refused", err)
	}
}
