package run

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/state"
)

// TestAgentStateSeedOnlyWhenMade checks that a profile's seed files are
// written when moat makes a state directory and never again: what the
// agent changed, removed or replaced with a link in its state stays as
// the agent left it, and no link is followed.
func TestAgentStateSeedOnlyWhenMade(t *testing.T) {
	t.Parallel()
	m := &Manager{Store: &state.Store{Root: t.TempDir()}}
	f := &agentFeature{setup: &config.AgentSetup{
		Name:  "testagent",
		State: []string{"/home/moat/.agent", "/home/moat/.cache"},
		Seed:  []config.AgentFile{{Path: "/home/moat/.agent/settings.json", Content: `{"seeded":true}`}},
	}}
	uid, gid := os.Getuid(), os.Getgid()
	ws := t.TempDir()

	mounts, err := f.stateMounts(m, ws, uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 2 || mounts[0].Target != "/home/moat/.agent" || mounts[1].Target != "/home/moat/.cache" {
		t.Fatalf("mounts = %+v", mounts)
	}
	settings := filepath.Join(mounts[0].Source, "settings.json")
	if got, err := os.ReadFile(settings); err != nil || string(got) != `{"seeded":true}` {
		t.Fatalf("seed file: %q, %v", got, err)
	}
	fi, err := os.Lstat(settings)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Fatalf("seed file mode or owner: %v, %v", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(mounts[1].Source); len(entries) != 0 {
		t.Errorf("a state directory without seed files got %d entries", len(entries))
	}

	// The agent changes the file: the next run keeps the change.
	if err := os.WriteFile(settings, []byte("changed by the agent"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stateMounts(m, ws, uid, gid); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(settings); string(got) != "changed by the agent" {
		t.Errorf("the seed file was rewritten: %q", got)
	}

	// The agent replaces it with a link to a file outside: nothing
	// writes through the link.
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("victim"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(settings); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, settings); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stateMounts(m, ws, uid, gid); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outside); string(got) != "victim" {
		t.Errorf("a write went through the agent's link: %q", got)
	}

	// Another workspace gets state of its own, seeded afresh.
	other, err := f.stateMounts(m, t.TempDir(), uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(other[0].Source, "settings.json")); err != nil || string(got) != `{"seeded":true}` {
		t.Errorf("the other workspace's seed file: %q, %v", got, err)
	}
}

// TestGrantFilesFollowTheRunsGrants checks that a profile's login files
// are mounted only for a run that has their grant kind: the user picks the
// credential per run, and a run without it finds no file of moat's there.
func TestGrantFilesFollowTheRunsGrants(t *testing.T) {
	for _, tt := range []struct {
		grants []string
		want   string // the login file's content, "" for none
	}{{[]string{"github"}, "github login"}, {[]string{"my-api"}, "http login"}, {nil, ""}} {
		m, eng := newTestManager(t)
		withGrants(m)
		ws, err := m.OpenWorkspace(writeWorkspace(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		cfg := *ws.Config()
		cfg.AgentSetup = &config.AgentSetup{Name: "testagent", State: []string{"/home/moat/.agent"},
			GrantFiles: []config.GrantFile{
				{Kind: "github", Path: "/home/moat/.agent/login.json", Login: func(map[string]string) string { return "github login" }},
				{Kind: "http", Path: "/home/moat/.agent/login.json", Login: func(map[string]string) string { return "http login" }},
			}}
		res, err := m.Run(context.Background(), Options{Opened: ws.WithConfig(&cfg), Detach: true, Command: []string{"sleep"}, Grants: tt.grants})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, c := range eng.Containers {
			for _, f := range c.Spec.MoatFiles {
				if f.Target == "/home/moat/.agent/login.json" {
					b, _ := os.ReadFile(f.Source)
					got = string(b)
				}
			}
		}
		if got != tt.want {
			t.Errorf("grants %q: the login file holds %q, want %q", tt.grants, got, tt.want)
		}
		m.Stop(context.Background(), res.Run)
	}
}

// TestTwoLoginsForOneRunAreRefused checks that a run with two grants that
// each log the agent in through the same file is refused before anything
// is built, naming both.
func TestTwoLoginsForOneRunAreRefused(t *testing.T) {
	m, eng := newTestManager(t)
	withGrants(m)
	ws, err := m.OpenWorkspace(writeWorkspace(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg := *ws.Config()
	login := func(map[string]string) string { return "{}" }
	cfg.AgentSetup = &config.AgentSetup{Name: "testagent", State: []string{"/home/moat/.agent"}, GrantFiles: []config.GrantFile{
		{Kind: "github", Path: "/home/moat/.agent/login.json", Login: login},
		{Kind: "http", Path: "/home/moat/.agent/login.json", Login: login},
	}}
	_, err = m.Run(context.Background(), Options{Opened: ws.WithConfig(&cfg), Command: []string{"true"}, Grants: []string{"github", "my-api"}})
	var choice *LoginChoiceError
	if !errors.As(err, &choice) || choice.First != "github" || choice.Second != "my-api" ||
		!strings.Contains(choice.Hint(), "--grant github or --grant my-api") {
		t.Fatalf("got %v, want a LoginChoiceError naming both grants", err)
	}
	if eng.Builds != 0 || len(eng.Containers) != 0 {
		t.Fatalf("refused late: %d builds, %d containers", eng.Builds, len(eng.Containers))
	}
}
