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
	"github.com/moatsh/moat/internal/state"
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

// Started from a subdirectory with no path, a run's workspace is the
// nearest parent with agent.yaml, as git finds a repository; a path given
// is taken as it is; the search stops below the home directory.
func TestOpenWorkspaceLooksUpward(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(root, "home", "u", "project")
	sub := filepath.Join(ws, "src", "pkg")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte("name: up\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := configAbove(sub); got != ws {
		t.Fatalf("configAbove(%s) = %q, want %s", sub, got, ws)
	}
	if got := configAbove(ws); got != "" {
		t.Fatalf("configAbove of the workspace itself = %q, want none", got)
	}
	// An agent.yaml in the home directory is not a workspace for every
	// directory below it.
	home := filepath.Join(root, "home", "u")
	other := filepath.Join(home, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(home, "agent.yaml"), []byte("name: home\n"), 0o644)
	t.Setenv("HOME", home)
	if got := configAbove(other); got != "" {
		t.Fatalf("configAbove(%s) = %q, want none: the home is the ceiling", other, got)
	}
	if got := configAbove(sub); got != ws {
		t.Fatalf("below the home: configAbove(%s) = %q, want %s", sub, got, ws)
	}
	t.Chdir(sub)
	m := &Manager{Store: &state.Store{Root: t.TempDir()}}
	w, err := m.OpenWorkspace("")
	if err != nil || w.Path() != ws || !w.Above() || w.Config().Name != "up" {
		t.Fatalf("OpenWorkspace(\"\") from %s: %v, %+v; want %s, found above", sub, err, w, ws)
	}
	if w, err := m.OpenWorkspace("."); err != nil || w.Path() != sub || w.Above() {
		t.Fatalf("OpenWorkspace(\".\"): %v, %+v; want %s as given", err, w, sub)
	}
}
