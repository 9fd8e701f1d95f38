package agent

import (
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
	out.Dependencies = mergeDeps(cfg.Dependencies, p.Install)
	out.Env = mergeEnv(cfg.Env, p.Defaults.Env)
	out.Network.Allow = mergeHosts(cfg.Network, p.Hosts)
	out.Command = p.command(args)
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
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

// mergeDeps appends the profile's specs that agent.yaml does not already
// name: a tool or package agent.yaml names, in any version, is its own.
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
// allow (compared in canonical form: the config refuses duplicates).
func mergeHosts(nw config.Network, hosts []string) []string {
	if policy.Mode(nw.Policy) == policy.None {
		return nw.Allow
	}
	have := map[string]bool{}
	for _, s := range nw.Allow {
		if r, err := policy.ParseRule(s, policy.SourceAllow); err == nil {
			have[r.Pattern] = true
		}
	}
	out := slices.Clone(nw.Allow)
	for _, h := range hosts {
		r, err := policy.ParseRule(h, policy.SourceAllow) // Check parsed it already
		if err == nil && !have[r.Pattern] {
			have[r.Pattern] = true
			out = append(out, h)
		}
	}
	return out
}
