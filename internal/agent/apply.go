package agent

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/policy"
)

// Apply returns cfg, a workspace's agent.yaml as loaded, with p merged in:
// p's dependencies and hosts added, its default env under agent.yaml's, and
// the command set to p's command, its default arguments the user did not
// drop, then args (the user's arguments after --). cfg is not changed.
//
// Everything Apply adds is in the config the run checks against what the
// user approved for the workspace, so a profile's packages, hosts and env
// are shown and asked for like agent.yaml's own; Apply never adds a grant
// or a mount. Under network.policy none, p's hosts are not added: the
// user's choice of no network stands.
func Apply(cfg *config.Config, p Profile, args []string) (*config.Config, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	out := *cfg
	var err error
	if out.DependencySpecs, out.Dependencies, err = resolveDeps(cfg, p.Install); err != nil {
		return nil, fmt.Errorf("%s with agent profile %q: %w", configName(cfg), p.Name, err)
	}
	out.Env = mergeEnv(cfg.Env, p.Defaults.Env)
	out.Network.Allow = mergeHosts(cfg.Network, append(slices.Clone(p.Hosts), mcpHosts(cfg)...))
	out.Command = p.command(args)
	out.AgentSetup = &config.AgentSetup{Name: p.Name, State: slices.Clone(p.State), Instructions: p.Instructions,
		Files: agentFiles(p.Files), Seed: agentFiles(p.Seed)}
	for _, ph := range p.Placeholders {
		if ph.File != "" {
			out.AgentSetup.GrantFiles = append(out.AgentSetup.GrantFiles,
				config.GrantFile{Kind: string(ph.Grant), Path: ph.File, Login: ph.Login})
		}
	}
	if err := applyMCP(cfg, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// applyMCP gives the agent agent.yaml's mcp servers: the profile's file
// holding them, mounted read-only, and the arguments that point the agent
// at it, before the profile's defaults and the user's arguments.
func applyMCP(cfg *config.Config, p Profile, out *config.Config) error {
	if len(cfg.MCP) == 0 {
		return nil
	}
	first := cfg.MCP[0]
	if p.MCP == nil {
		return &config.Error{File: configName(cfg), Line: first.Line, Col: first.Col,
			Msg:    fmt.Sprintf("mcp: moat cannot give MCP servers to %s", p.Name),
			Remedy: "Remove mcp:, or configure the servers in the agent's own settings."}
	}
	for _, s := range cfg.MCP {
		if s.URL != nil && cfg.Network.Mode() == policy.None {
			return &config.Error{File: configName(cfg), Line: s.Line, Col: s.Col,
				Msg:    fmt.Sprintf("mcp %s: a remote server needs the network, and network.policy is none", s.Name),
				Remedy: "Use network.policy strict (the default), or remove the server."}
		}
	}
	content, err := p.MCP.Render(cfg.MCP)
	if err != nil {
		return fmt.Errorf("%s: writing the mcp servers for %s: %w", configName(cfg), p.Name, err)
	}
	out.AgentSetup.Files = append(out.AgentSetup.Files, config.AgentFile{Path: p.MCP.File, Content: string(content)})
	out.Command = slices.Insert(out.Command, len(p.Command), p.MCP.Args...)
	return nil
}

// mcpHosts are the hosts of agent.yaml's remote mcp servers, which the
// run must reach: a host a grant covers is reachable already, and allowing
// it again is harmless.
func mcpHosts(cfg *config.Config) []string {
	var hosts []string
	for _, s := range cfg.MCP {
		if h := s.Host(); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// ForConfig applies the profile that agent.yaml's agent: names, for 'moat
// run': the run gets what the agent needs, and starts the agent unless
// the arguments after -- (returned as they are) name another command.
// Without agent: it returns cfg as it is.
func ForConfig(cfg *config.Config, args []string) (*config.Config, []string, error) {
	if cfg.Agent == "" {
		if len(cfg.MCP) > 0 {
			s := cfg.MCP[0]
			return nil, nil, &config.Error{File: configName(cfg), Line: s.Line, Col: s.Col,
				Msg:    "mcp: the servers are for an agent, and agent.yaml names none",
				Remedy: "Add agent: (e.g. agent: claude), or start the agent with its launcher (moat claude)."}
		}
		return cfg, args, nil
	}
	p, err := named(cfg)
	if err != nil {
		return nil, nil, err
	}
	out, err := Apply(cfg, p, nil)
	return out, args, err
}

// CheckNamed refuses to launch profile p in a workspace whose agent.yaml
// names another agent.
func CheckNamed(cfg *config.Config, p Profile) error {
	if cfg.Agent == "" || cfg.Agent == p.Name {
		return nil
	}
	return &config.Error{File: configName(cfg), Line: cfg.AgentLine, Col: cfg.AgentCol,
		Msg:    fmt.Sprintf("agent.yaml starts %s, not %s", cfg.Agent, p.Name),
		Remedy: fmt.Sprintf("Run 'moat %s' or 'moat run', or change agent: in agent.yaml.", cfg.Agent)}
}

// named returns the profile agent.yaml's agent: names.
func named(cfg *config.Config) (Profile, error) {
	p, ok := Lookup(cfg.Agent)
	if !ok {
		return Profile{}, &config.Error{File: configName(cfg), Line: cfg.AgentLine, Col: cfg.AgentCol,
			Msg:    fmt.Sprintf("agent: no agent is called %q", cfg.Agent),
			Remedy: "Name one of: " + strings.Join(Names(), ", ") + "."}
	}
	return p, nil
}

// command is p's command line for the user's args.
func (p Profile) command(args []string) []string {
	cmd := slices.Clone(p.Command)
	for _, d := range p.Defaults.Args {
		if !d.droppedBy(args) {
			cmd = append(cmd, d.Args...)
		}
	}
	return append(cmd, args...)
}

// droppedBy reports whether args hold one of the flags that drop d. An
// argument after a bare "--" is not a flag.
func (d DefaultArg) droppedBy(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(a, "=")
		if slices.Contains(d.DroppedBy, name) {
			return true
		}
	}
	return false
}

// mergeDeps returns agent.yaml's specs followed by the profile's that
// agent.yaml does not name: a tool or package agent.yaml names, in any
// version, is its own.
func mergeDeps(yaml, profile []string) []string {
	have := map[string]bool{}
	for _, s := range yaml {
		if sp, err := deps.Parse(s); err == nil {
			have[identity(sp)] = true
		}
	}
	out := slices.Clone(yaml)
	for _, s := range profile {
		sp, err := deps.Parse(s) // Check parsed it already
		if err == nil && !have[identity(sp)] {
			out = append(out, s)
		}
	}
	return out
}

// resolveDeps returns agent.yaml's dependency specs with the profile's
// merged in (mergeDeps) and their resolved set, as config.Parse resolves
// agent.yaml's own: Docker's source follows docker.install.
func resolveDeps(cfg *config.Config, install []string) ([]string, []deps.Dep, error) {
	specs := mergeDeps(cfg.DependencySpecs, install)
	set, err := deps.Resolve(specs)
	if err != nil {
		return nil, nil, err
	}
	return specs, cfg.Docker.WithSource(set), nil
}

// configName names cfg's file for messages.
func configName(cfg *config.Config) string {
	if cfg.Path == "" {
		return config.FileName
	}
	return cfg.Path
}

// identity names what a spec installs, whatever its version.
func identity(sp deps.Spec) string {
	return string(sp.Method) + "\x00" + sp.Name + "\x00" + string(sp.Mode)
}

// mergeEnv returns the profile's defaults overridden by agent.yaml's env.
func mergeEnv(yaml, defaults map[string]string) map[string]string {
	if len(defaults) == 0 {
		return yaml
	}
	out := maps.Clone(defaults)
	maps.Copy(out, yaml)
	return out
}

// mergeHosts appends the profile's hosts that agent.yaml does not already
// allow (compared in canonical form: the config holds no duplicates).
func mergeHosts(nw config.Network, hosts []string) []config.AllowRule {
	if nw.Mode() == policy.None {
		return nw.Allow
	}
	have := map[string]bool{}
	for _, a := range nw.Allow {
		have[a.Rule.Pattern] = true
	}
	out := slices.Clone(nw.Allow)
	for _, h := range hosts {
		r, err := policy.ParseRule(h, policy.SourceAllow) // Check parsed it already
		if err == nil && !have[r.Pattern] {
			have[r.Pattern] = true
			out = append(out, config.AllowRule{Text: h, Rule: r})
		}
	}
	return out
}

// agentFiles lists files by path, in path order.
func agentFiles(files map[string]string) []config.AgentFile {
	var out []config.AgentFile
	for _, file := range slices.Sorted(maps.Keys(files)) {
		out = append(out, config.AgentFile{Path: file, Content: files[file]})
	}
	return out
}

// StoredCredential picks the credential for a launch that names none: the
// one grant of p's credential kinds that is stored, if there is exactly
// one. A launch that names one of them (in agent.yaml's grants or with
// --grant) gets nothing added; with several stored and none named, the
// user must choose, and the error says how.
func (p Profile) StoredCredential(yamlGrants, named, stored []string) (string, error) {
	var kinds, have []string
	for _, ph := range p.Placeholders {
		k := string(ph.Grant)
		if slices.Contains(kinds, k) {
			continue
		}
		kinds = append(kinds, k)
		if slices.Contains(yamlGrants, k) || slices.Contains(named, k) {
			return "", nil
		}
		if slices.Contains(stored, k) {
			have = append(have, k)
		}
	}
	switch len(have) {
	case 0:
		return "", nil
	case 1:
		return have[0], nil
	}
	return "", &CredentialChoiceError{Agent: p.Name, Stored: have}
}

// CredentialChoiceError reports a launch that names no credential when
// several that the agent can use are stored.
type CredentialChoiceError struct {
	Agent  string
	Stored []string
}

func (e *CredentialChoiceError) Error() string {
	return fmt.Sprintf("%s can use grants %s, all stored, and this run names none of them",
		e.Agent, strings.Join(e.Stored, " and "))
}

func (e *CredentialChoiceError) Hint() string {
	return "Choose one for this run: --grant " + strings.Join(e.Stored, " or --grant ") + " (or name it in agent.yaml's grants)."
}
