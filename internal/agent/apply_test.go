package agent

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/grant"
)

// testProfile is a profile of an agent that does not exist, using every
// field.
func testProfile() Profile {
	return Profile{
		Name:         "testagent",
		Short:        "Run the test agent in a sandboxed container",
		Install:      []string{"node@22", "npm:@moat-test/agent@1.2.3"},
		Command:      []string{"agent", "--verbose"},
		Placeholders: []Placeholder{{Env: "ANTHROPIC_API_KEY", Grant: grant.Anthropic}},
		State:        []string{"/home/moat/.agent"},
		Instructions: "/etc/agent/NOTES.md",
		Files:        map[string]string{"/etc/agent/policy.json": `{"updates":false}`},
		Seed:         map[string]string{"/home/moat/.agent/settings.json": `{"welcome":"done"}`},
		Hosts:        []string{"api.agent.example", "*.agent.example"},
		Defaults: Defaults{
			Env: map[string]string{"AGENT_TELEMETRY": "0", "AGENT_MODE": "sandbox"},
			Args: []DefaultArg{{
				Args:      []string{"--skip-permissions"},
				DroppedBy: []string{"--permission-mode", "--ask"},
				Why:       "the container is the sandbox",
			}},
		},
	}
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("ws/agent.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// applied is what Apply changes in a config.
type applied struct {
	deps    []string
	env     map[string]string
	allow   []string
	command []string
}

// plain is what the test profile makes of a workspace without agent.yaml.
func plain() applied {
	return applied{
		deps:    []string{"node@22", "npm:@moat-test/agent@1.2.3"},
		env:     map[string]string{"AGENT_TELEMETRY": "0", "AGENT_MODE": "sandbox"},
		allow:   []string{"api.agent.example", "*.agent.example"},
		command: []string{"agent", "--verbose", "--skip-permissions"},
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		args []string
		want func(*applied) // how the result differs from plain()
	}{
		{name: "no agent.yaml", want: func(*applied) {}},
		{name: "user arguments come last", args: []string{"-p", "fix the tests"},
			want: func(a *applied) { a.command = append(a.command, "-p", "fix the tests") }},
		{name: "agent.yaml's versions win", yaml: "dependencies: [git, node@20, \"npm:@moat-test/agent@2.0.0\"]\n",
			want: func(a *applied) { a.deps = []string{"git", "node@20", "npm:@moat-test/agent@2.0.0"} }},
		{name: "an unversioned spec is agent.yaml's choice too", yaml: "dependencies: [node]\n",
			want: func(a *applied) { a.deps = []string{"node", "npm:@moat-test/agent@1.2.3"} }},
		{name: "agent.yaml's env wins over defaults", yaml: "env: {AGENT_MODE: yolo, FOO: bar}\n",
			want: func(a *applied) {
				a.env = map[string]string{"AGENT_TELEMETRY": "0", "AGENT_MODE": "yolo", "FOO": "bar"}
			}},
		{name: "hosts agent.yaml allows are not repeated", yaml: "network: {allow: [API.Agent.Example, \"api.agent.example:8443\"]}\n",
			want: func(a *applied) { a.allow = []string{"API.Agent.Example", "api.agent.example:8443", "*.agent.example"} }},
		{name: "policy none gets no hosts", yaml: "network: {policy: none}\n", want: func(a *applied) { a.allow = nil }},
		{name: "policy permissive gets the hosts", yaml: "network: {policy: permissive}\n", want: func(*applied) {}},
		{name: "agent.yaml's command is replaced", yaml: "command: [make, test]\n", args: []string{"--ask"},
			want: func(a *applied) { a.command = []string{"agent", "--verbose", "--ask"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Apply(parse(t, tt.yaml), testProfile(), tt.args)
			if err != nil {
				t.Fatal(err)
			}
			want := plain()
			tt.want(&want)
			got := applied{deps: cfg.DependencySpecs, env: cfg.Env, allow: ruleTexts(cfg.Network.Allow), command: cfg.Command}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if resolved, _ := deps.Resolve(want.deps); !slices.Equal(keys(cfg.Dependencies), keys(resolved)) {
				t.Errorf("resolved dependencies %q, want those of %q: %q", keys(cfg.Dependencies), want.deps, keys(resolved))
			}
		})
	}
}

func ruleTexts(rules []config.AllowRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Text)
	}
	return out
}

func keys(set []deps.Dep) []string {
	var out []string
	for _, d := range set {
		out = append(out, d.Key())
	}
	return out
}

func TestApplyChangesNothingElse(t *testing.T) {
	t.Parallel()
	yaml := `name: web
dependencies: [git]
env: {FOO: bar}
mounts: ["./cache:/cache:ro"]
command: [make]
network: {allow: [example.com], hosts: {db.internal: 10.0.0.5}}
grants: [github]
resources: {memory: 1g}
`
	cfg := parse(t, yaml)
	before := parse(t, yaml)
	got, err := Apply(cfg, testProfile(), []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, before) {
		t.Fatalf("Apply changed its input:\ngot  %+v\nwant %+v", cfg, before)
	}
	// No grant, mount, name, network setting but allow, or limit comes
	// from a profile.
	want := *before
	want.Dependencies, want.DependencySpecs = got.Dependencies, got.DependencySpecs
	want.Env, want.Network.Allow, want.Command = got.Env, got.Network.Allow, got.Command
	want.AgentSetup = &config.AgentSetup{Name: "testagent", State: []string{"/home/moat/.agent"}, Instructions: "/etc/agent/NOTES.md",
		Files: []config.AgentFile{{Path: "/etc/agent/policy.json", Content: `{"updates":false}`}},
		Seed:  []config.AgentFile{{Path: "/home/moat/.agent/settings.json", Content: `{"welcome":"done"}`}}}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("Apply changed more than dependencies, env, allow, command and the agent's setup:\ngot  %+v\nwant %+v", *got, want)
	}
}

func TestApplyKeepsDefaultArgsUnlessDropped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want bool // --skip-permissions is passed
	}{
		{nil, true},
		{[]string{"--permission-mode", "default"}, false},
		{[]string{"--permission-mode=default"}, false},
		{[]string{"-p", "x", "--ask"}, false},
		{[]string{"--asking"}, true},                     // another flag
		{[]string{"--", "--ask"}, true},                  // after --, an argument, not a flag
		{[]string{"--ask=", "--permission-mode"}, false}, // FLAG= still names the flag
	}
	for _, tt := range tests {
		cfg, err := Apply(&config.Config{}, testProfile(), tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(cfg.Command, "--skip-permissions"); got != tt.want {
			t.Errorf("args %q: got command %q, want --skip-permissions passed: %v", tt.args, cfg.Command, tt.want)
		}
	}
}

func TestApplyRefusesABrokenProfile(t *testing.T) {
	t.Parallel()
	p := testProfile()
	p.Hosts = []string{"10.0.0.0/8"}
	_, err := Apply(&config.Config{}, p, nil)
	if err == nil || !strings.Contains(err.Error(), `agent profile "testagent": host "10.0.0.0/8"`) {
		t.Fatalf("got %v, want the profile's host refused", err)
	}
}

// TestApplyKeepsDockerSource: the profile's dependencies are resolved as
// agent.yaml's are, docker.install included.
func TestApplyKeepsDockerSource(t *testing.T) {
	t.Parallel()
	cfg := parse(t, "dependencies: [\"docker:host\"]\ndocker: {install: docker}\n")
	got, err := Apply(cfg, testProfile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := keys(cfg.Dependencies)[0]; !slices.Contains(keys(got.Dependencies), want) {
		t.Fatalf("dependencies %q lack agent.yaml's %q", keys(got.Dependencies), want)
	}
}

func TestForConfigNamesTheLineOfAnUnknownAgent(t *testing.T) {
	t.Parallel()
	cfg := parse(t, "name: x\nagent: nosuchagent\n")
	_, _, err := ForConfig(cfg, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "ws/agent.yaml:2:8: ") || !strings.Contains(err.Error(), `no agent is called "nosuchagent"`) {
		t.Fatalf("ForConfig: %v, want an error at ws/agent.yaml:2:8 naming the agent", err)
	}
	p, _ := Lookup("claude")
	other := parse(t, "agent: codex\n")
	if err := CheckNamed(other, p); err == nil || !strings.HasPrefix(err.Error(), "ws/agent.yaml:1:8: ") {
		t.Fatalf("CheckNamed: %v, want a refusal at ws/agent.yaml:1:8", err)
	}
	got, args, err := ForConfig(parse(t, "agent: claude\n"), []string{"sh"})
	if err != nil || got.AgentSetup == nil || got.AgentSetup.Name != "claude" || !slices.Equal(args, []string{"sh"}) {
		t.Fatalf("ForConfig(agent: claude): %+v, %q, %v", got, args, err)
	}
}

// TestApplyMCP checks that agent.yaml's mcp servers reach the agent: the
// profile's file with them, mounted read-only, the arguments pointing at
// it right after the program, and the remote servers' hosts allowed.
func TestApplyMCP(t *testing.T) {
	t.Parallel()
	p, _ := Lookup("claude")
	cfg := parse(t, `mcp:
  - {name: notes, command: [notes-server, --stdio], env: {A: b}}
  - {name: docs, url: "https://mcp.example.com/mcp"}
`)
	got, err := Apply(cfg, p, []string{"-p", "hi"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"claude", "--mcp-config", "/etc/moat/claude-mcp.json", "--dangerously-skip-permissions", "-p", "hi"}
	if !slices.Equal(got.Command, want) {
		t.Errorf("command = %q, want %q", got.Command, want)
	}
	var file string
	for _, f := range got.AgentSetup.Files {
		if f.Path == "/etc/moat/claude-mcp.json" {
			file = f.Content
		}
	}
	var mcp struct {
		MCPServers map[string]struct {
			Type, Command, URL string
			Args               []string
			Env                map[string]string
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal([]byte(file), &mcp); err != nil {
		t.Fatalf("the MCP file %q: %v", file, err)
	}
	notes, docs := mcp.MCPServers["notes"], mcp.MCPServers["docs"]
	if notes.Type != "stdio" || notes.Command != "notes-server" || !slices.Equal(notes.Args, []string{"--stdio"}) || notes.Env["A"] != "b" {
		t.Errorf("local server: %+v", notes)
	}
	if docs.Type != "http" || docs.URL != "https://mcp.example.com/mcp" {
		t.Errorf("remote server: %+v", docs)
	}
	if !slices.Contains(rules(got.Network.Allow), "mcp.example.com") {
		t.Errorf("allow = %q, want the remote server's host", rules(got.Network.Allow))
	}

	if _, err := Apply(parse(t, "network: {policy: none}\nmcp: [{name: docs, url: \"https://mcp.example.com/mcp\"}]\n"), p, nil); err == nil ||
		!strings.Contains(err.Error(), "ws/agent.yaml:2:7: mcp docs: a remote server needs the network") {
		t.Errorf("a remote server under policy none: %v", err)
	}
	if _, err := Apply(cfg, testProfile(), nil); err == nil || !strings.Contains(err.Error(), "ws/agent.yaml:2:5: mcp: moat cannot give MCP servers to testagent") {
		t.Errorf("a profile without MCP: %v", err)
	}
	if _, _, err := ForConfig(cfg, nil); err == nil || !strings.Contains(err.Error(), "agent.yaml names none") {
		t.Errorf("mcp without agent: %v", err)
	}
}

func rules(allow []config.AllowRule) []string {
	var out []string
	for _, a := range allow {
		out = append(out, a.Text)
	}
	return out
}

// TestStoredCredential checks which stored credential a launch that names
// none gets: the one stored, nothing when the run names one (in
// agent.yaml or with --grant) or none is stored, and a choice to make when
// several are.
func TestStoredCredential(t *testing.T) {
	t.Parallel()
	p, _ := Lookup("claude")
	tests := []struct {
		yaml, named, stored []string
		want, wantErr       string
	}{
		{stored: []string{"github", "claude"}, want: "claude"},
		{stored: []string{"anthropic"}, want: "anthropic"},
		{stored: []string{"github"}},
		{named: []string{"anthropic"}, stored: []string{"claude"}},
		{yaml: []string{"claude"}, stored: []string{"anthropic", "claude"}},
		{stored: []string{"anthropic", "claude"}, wantErr: "claude can use grants anthropic and claude, all stored, and this run names none of them"},
	}
	for _, tt := range tests {
		got, err := p.StoredCredential(tt.yaml, tt.named, tt.stored)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
			t.Errorf("yaml %q, named %q, stored %q: got %q, %v; want %q, %q", tt.yaml, tt.named, tt.stored, got, err, tt.want, tt.wantErr)
		}
	}
	var choice *CredentialChoiceError
	if _, err := p.StoredCredential(nil, nil, []string{"anthropic", "claude"}); !errors.As(err, &choice) ||
		choice.Hint() != "Choose one for this run: --grant anthropic or --grant claude (or name it in agent.yaml's grants)." {
		t.Errorf("the choice's hint: %v", err)
	}
}

// agentFile is the content of the file Apply mounts at path.
func agentFile(t *testing.T, cfg *config.Config, path string) string {
	t.Helper()
	for _, f := range cfg.AgentSetup.Files {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("no file %s among %+v", path, cfg.AgentSetup.Files)
	return ""
}
