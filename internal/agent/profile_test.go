package agent

import (
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	if err := testProfile().Check(); err != nil {
		t.Fatalf("the test profile: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Profile)
		want   string
	}{
		{"name", func(p *Profile) { p.Name = "Test Agent" }, "the name must match"},
		{"no help", func(p *Profile) { p.Short = "" }, "Short"},
		{"bad spec", func(p *Profile) { p.Install = []string{"node@abc"} }, `install: invalid dependency "node@abc"`},
		{"docker mode", func(p *Profile) { p.Install = []string{"docker:host"} }, "a Docker mode is agent.yaml's to ask for"},
		{"conflicting specs", func(p *Profile) { p.Install = []string{"node@20", "node@22"} }, "install:"},
		{"no program", func(p *Profile) { p.Command = []string{""} }, "the command has no program"},
		{"unknown grant", func(p *Profile) { p.Placeholders = []Placeholder{{Env: "X_KEY", Grant: "nope"}} }, `"nope" is not a built-in grant kind`},
		{"variable the grant does not set", func(p *Profile) { p.Placeholders = []Placeholder{{Env: "OPENAI_API_KEY", Grant: "anthropic"}} },
			"grant anthropic sets no such variable"},
		{"relative state", func(p *Profile) { p.State = []string{".agent"} }, "want a clean absolute path"},
		{"unclean state", func(p *Profile) { p.State = []string{"/home/moat/../root"} }, "want a clean absolute path"},
		{"root state", func(p *Profile) { p.State = []string{"/"} }, "want a clean absolute path"},
		{"workspace state", func(p *Profile) { p.State = []string{"/workspace/.agent"} }, "the workspace is the user's"},
		{"file in state", func(p *Profile) { p.Files = map[string]string{p.State[0] + "/x.json": "{}"} }, "inside a state directory"},
		{"file over the note", func(p *Profile) { p.Files = map[string]string{p.Instructions: "x"} }, "hide the instructions file"},
		{"relative file", func(p *Profile) { p.Files = map[string]string{"etc/x": "x"} }, "want a clean absolute path"},
		{"seed outside state", func(p *Profile) { p.Seed = map[string]string{"/etc/x.json": "{}"} }, "directly inside a state directory"},
		{"seed deeper in state", func(p *Profile) { p.Seed = map[string]string{p.State[0] + "/a/x.json": "{}"} }, "directly inside a state directory"},
		{"bad host", func(p *Profile) { p.Hosts = []string{"https://api.example.com"} }, "invalid rule"},
		{"address host", func(p *Profile) { p.Hosts = []string{"192.0.2.1"} }, "addresses are agent.yaml's to allow"},
		{"reserved env", func(p *Profile) { p.Defaults.Env = map[string]string{"MOAT_X": "1"} }, "default env:"},
		{"default without why", func(p *Profile) { p.Defaults.Args[0].Why = "" }, "needs Args and Why"},
		{"default without opt-out", func(p *Profile) { p.Defaults.Args[0].DroppedBy = nil }, "DroppedBy must name"},
		{"opt-out not a flag", func(p *Profile) { p.Defaults.Args[0].DroppedBy = []string{"ask"} }, "DroppedBy must name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testProfile()
			tt.change(&p)
			err := p.Check()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "agent profile ") {
				t.Fatalf("got %v, want an error about the profile containing %q", err, tt.want)
			}
		})
	}
}

// TestRegisteredProfiles checks every real profile's data, and that each
// has a name of its own.
func TestRegisteredProfiles(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, p := range profiles {
		if err := p.Check(); err != nil {
			t.Error(err)
		}
		if seen[p.Name] {
			t.Errorf("two profiles are named %q", p.Name)
		}
		seen[p.Name] = true
	}
}

// TestLookupAndNames swaps the registry: not parallel.
func TestLookupAndNames(t *testing.T) {
	saved := profiles
	t.Cleanup(func() { profiles = saved })
	b, a := testProfile(), testProfile()
	a.Name = "another"
	profiles = []Profile{b, a}

	if got, want := Names(), []string{"another", "testagent"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	got, ok := Lookup("testagent")
	if !ok || got.Name != "testagent" || !slices.Equal(got.Command, b.Command) {
		t.Fatalf("Lookup(testagent) = %+v, %v", got, ok)
	}
	got.Command[0] = "changed"
	got.Defaults.Env["AGENT_MODE"] = "changed"
	got.Defaults.Args[0].Args[0] = "changed"
	again, _ := Lookup("testagent")
	if again.Command[0] != "agent" || again.Defaults.Env["AGENT_MODE"] != "sandbox" || again.Defaults.Args[0].Args[0] != "--skip-permissions" {
		t.Fatalf("changing a looked-up profile changed the registry: %+v", again)
	}
	if _, ok := Lookup("nope"); ok {
		t.Fatal("Lookup(nope) found a profile")
	}
}
