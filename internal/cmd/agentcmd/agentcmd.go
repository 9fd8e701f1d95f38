// Package agentcmd builds the agent launchers: 'moat <agent> [path] [--
// args]' for each profile in internal/agent's registry. A launcher is 'moat
// run' with the agent's profile applied to the workspace's agent.yaml: the
// same flags (internal/cmd/launch), the profile's command with the user's
// arguments appended, and the command's exit code passed through.
package agentcmd

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/agent"
	"github.com/moatsh/moat/internal/cmd/launch"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/run"
)

// NewCmdAgents builds a launcher for every registered profile, for the
// root command.
func NewCmdAgents(f *cmdutil.Factory) []*cobra.Command {
	var cmds []*cobra.Command
	for _, name := range agent.Names() {
		p, _ := agent.Lookup(name)
		cmds = append(cmds, NewCmdAgent(f, p, nil))
	}
	return cmds
}

// NewCmdAgent builds the launcher of profile p; runF replaces the work in
// tests.
func NewCmdAgent(f *cmdutil.Factory, p agent.Profile, runF func(context.Context, *launch.Options) error) *cobra.Command {
	opts := &launch.Options{IO: f.IOStreams, Manager: f.Manager, GrantStore: f.Grants, Shape: shape(p), TerminalByDefault: true,
		Credentials: storedCredential(f, p)}
	cmd := &cobra.Command{
		Use:   p.Name + " [path] [-- args...]",
		Short: p.Short,
		Long:  long(p),
		Example: fmt.Sprintf(`  # Run %[1]s on a project
  $ moat %[1]s ./project

  # Pass arguments to %[1]s
  $ moat %[1]s ./project -- --help`, p.Name),
	}
	return launch.Setup(cmd, opts, runF)
}

// shape applies p to the opened workspace's agent.yaml: the run's command
// is then the config's, and the arguments after -- are the agent's.
func shape(p agent.Profile) func(*run.Workspace, []string) (*run.Workspace, []string, error) {
	return func(ws *run.Workspace, args []string) (*run.Workspace, []string, error) {
		if err := agent.CheckNamed(ws.Config(), p); err != nil {
			return nil, nil, err
		}
		cfg, err := agent.Apply(ws.Config(), p, args)
		if err != nil {
			return nil, nil, err
		}
		return ws.WithConfig(cfg), nil, nil
	}
}

// storedCredential adds the credential grant of p that is stored when
// the run names none, and says so: 'moat grant claude' then 'moat claude'
// is all a user needs. With several stored it asks the user to choose.
func storedCredential(f *cmdutil.Factory, p agent.Profile) func(*run.Workspace, []string) ([]string, error) {
	return func(ws *run.Workspace, named []string) ([]string, error) {
		if f.Grants == nil {
			return nil, nil
		}
		store, err := f.Grants()
		if err != nil {
			return nil, nil // no store: the run says what it misses
		}
		gs, err := store.List()
		if err != nil {
			return nil, nil
		}
		var stored []string
		for _, g := range gs {
			stored = append(stored, g.Name)
		}
		pick, err := p.StoredCredential(ws.Config().Grants, named, stored)
		if pick == "" || err != nil {
			return nil, err
		}
		fmt.Fprintf(f.IOStreams.ErrOut, "Using the stored grant %s; choose another with --grant.\n", pick)
		return []string{pick}, nil
	}
}

// long is the launcher's help: what the profile adds to a run, from its
// data, so the help cannot drift from what the launcher does.
func long(p agent.Profile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s in a container built from the workspace's agent.yaml, as\n", p.Name)
	b.WriteString("'moat run' does, with what the agent needs added to agent.yaml:\n")
	fmt.Fprintf(&b, "  install:  %s\n", strings.Join(p.Install, ", "))
	if len(p.Hosts) > 0 {
		fmt.Fprintf(&b, "  allow:    %s (not under network.policy none)\n", strings.Join(p.Hosts, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Defaults.Env)) {
		fmt.Fprintf(&b, "  env:      %s=%s (unless agent.yaml or -e sets it)\n", k, p.Defaults.Env[k])
	}
	b.WriteString("A dependency agent.yaml names itself keeps agent.yaml's version. What the\n")
	b.WriteString("agent adds is approved like agent.yaml's own requests.\n\n")
	cmd := slices.Clone(p.Command)
	for _, d := range p.Defaults.Args {
		cmd = append(cmd, d.Args...)
	}
	fmt.Fprintf(&b, "Command:    %s, then the arguments after --\n", strings.Join(cmd, " "))
	for _, d := range p.Defaults.Args {
		fmt.Fprintf(&b, "Default:    %s: %s.\n", strings.Join(d.Args, " "), d.Why)
		fmt.Fprintf(&b, "            Give %s among the arguments to leave it out.\n", strings.Join(d.DroppedBy, " or "))
	}
	if len(p.Placeholders) > 0 {
		b.WriteString("Credential: one of these grants, by --grant or agent.yaml's grants; the agent\n")
		b.WriteString("            sees a placeholder where it reads it, the proxy sends the real one:\n")
		for _, ph := range p.Placeholders {
			where := strings.TrimPrefix(strings.Join([]string{ph.Env, ph.File}, " and "), " and ")
			where = strings.TrimSuffix(where, " and ")
			fmt.Fprintf(&b, "              --grant %-10s %s, in %s\n", ph.Grant, ph.Credential(), where)
		}
	}
	b.WriteString("            With none named, the one of them that is stored is used.\n")
	b.WriteString("\nOn a terminal the agent runs interactively, as with -it, unless -d, -i or -t\n")
	b.WriteString("is given. moat exits with the agent's exit code.")
	return b.String()
}
