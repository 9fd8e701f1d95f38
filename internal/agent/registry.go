package agent

import (
	"maps"
	"slices"
)

// profiles is the registry: one entry per agent, each defined in a file of
// its own. Every entry gets a `moat <Name>` launcher.
var profiles = []Profile{claude, codex, gemini}

// Lookup returns the profile named name, a copy the caller may change.
func Lookup(name string) (Profile, bool) {
	for _, p := range profiles {
		if p.Name == name {
			return p.clone(), true
		}
	}
	return Profile{}, false
}

// Names lists the registered profiles' names, sorted.
func Names() []string {
	names := make([]string, 0, len(profiles))
	for _, p := range profiles {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// clone copies p deeply enough that changing the copy leaves the registry
// as it is.
func (p Profile) clone() Profile {
	p.Install = slices.Clone(p.Install)
	p.Command = slices.Clone(p.Command)
	p.Placeholders = slices.Clone(p.Placeholders)
	p.State = slices.Clone(p.State)
	p.Hosts = slices.Clone(p.Hosts)
	p.Files = maps.Clone(p.Files)
	p.Seed = maps.Clone(p.Seed)
	if p.MCP != nil {
		mcp := *p.MCP
		mcp.Args = slices.Clone(mcp.Args)
		p.MCP = &mcp
	}
	p.Defaults.Env = maps.Clone(p.Defaults.Env)
	p.Defaults.Args = slices.Clone(p.Defaults.Args)
	for i, d := range p.Defaults.Args {
		p.Defaults.Args[i] = DefaultArg{Args: slices.Clone(d.Args), DroppedBy: slices.Clone(d.DroppedBy), Why: d.Why}
	}
	return p
}
