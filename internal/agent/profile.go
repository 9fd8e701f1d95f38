// Package agent owns agent profiles: what moat needs to know to launch one
// coding agent (what its image installs, its command, the credentials it
// reads, the state it keeps, the hosts it reaches, its defaults), as data.
// Apply merges a profile into a workspace's agent.yaml before the run is
// resolved, so what a profile adds is approved like agent.yaml itself. A new
// agent is a file holding its Profile and an entry in the registry, never a
// branch in the orchestrator or the CLI.
package agent

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/policy"
)

// Profile describes one agent. Its launcher is `moat <Name> [path] [-- args]`.
type Profile struct {
	// Name is the launcher's command name.
	Name string
	// Short is the launcher's one-line help.
	Short string
	// Install lists the dependency specs the agent's image gets, written as
	// agent.yaml's dependencies are: its runtime and the agent itself,
	// pinned to a version ("node@22", "npm:@scope/agent-cli@1.2.3"). Being
	// dependency specs, the versions are part of the image's content hash.
	// A workspace installs another version by naming the same tool or
	// package in its agent.yaml: agent.yaml's spec wins.
	Install []string
	// Command is the agent's program and first arguments; the default
	// arguments, then the user's arguments (after --), are appended.
	Command []string
	// Placeholders are the variables the agent reads its credentials from,
	// one per grant it can use, for help. A run that has the grant gets
	// the grant's placeholder in each, and the proxy puts the real
	// credential on the wire. Grants that cover the same host are
	// alternatives: a run refuses two of them together.
	Placeholders []Placeholder
	// State lists the directories, absolute paths in the container, where
	// the agent keeps what should outlive a run (sessions, settings,
	// history): each is kept per workspace in the moat home and mounted
	// back at every run. Defaults.Env points the agent at them.
	State []string
	// Instructions is the file, an absolute path in the container, that
	// the agent reads standing instructions from (its native mechanism,
	// such as Claude Code's managed CLAUDE.md): moat mounts a read-only
	// note there that says the agent is in a sandbox, what it can reach,
	// and what to do when a request is blocked. "" for none.
	Instructions string
	// Files are files moat mounts read-only in the container, by absolute
	// path: the agent's managed (system-wide) settings, which it reads but
	// cannot change, such as a policy that turns off its update checks.
	Files map[string]string
	// Seed are files moat writes into a state directory when it makes the
	// directory, and never afterwards, by absolute path in the container:
	// each is directly inside one of State. They are defaults the agent
	// may change, such as the settings that skip its first-run screens.
	Seed map[string]string
	// MCP says how the agent is given agent.yaml's mcp servers; nil when
	// the launcher cannot configure any.
	MCP *MCPSetup
	// Hosts are the network.allow rules the agent needs to work (its API):
	// host names, never addresses, added to agent.yaml's.
	Hosts []string
	// Defaults are what a launch gets unless the user says otherwise.
	Defaults Defaults
}

// MCPSetup is how a launcher configures an agent's MCP servers: moat
// writes them in the agent's format to File, mounted read-only, and passes
// Args, which point the agent at File, before the user's arguments (none
// when the agent reads File by itself, as a managed settings file).
type MCPSetup struct {
	File   string
	Args   []string
	Render func([]config.MCPServer) ([]byte, error)
}

// Placeholder is an environment variable the agent reads a credential from,
// and the grant kind whose placeholder fills it.
type Placeholder struct {
	Env   string // "" when the agent reads the credential from File only
	Grant grant.Kind
	// File and Login are a login file the agent reads this credential
	// from, holding placeholders: a run with the grant gets Login's result
	// mounted read-only at File, an absolute path in the container
	// (inside a state directory, where the agent looks for its login).
	// Login gets the grant's public fields (grant.Public: an account id,
	// never a secret), which a CLI may need to find its account. A run
	// without the grant gets no file there.
	File  string
	Login func(public map[string]string) string
}

// Credential says what the placeholder stands for: "Anthropic API key".
func (ph Placeholder) Credential() string {
	if k, ok := grant.LookupKind(ph.Grant); ok {
		return k.Credential
	}
	return string(ph.Grant)
}

// Defaults are a profile's defaults. Env gives way to agent.yaml's env and
// to -e; each DefaultArg gives way to the agent's own flags it names.
type Defaults struct {
	Env  map[string]string
	Args []DefaultArg
}

// DefaultArg is arguments a launch passes to the agent by default, such as
// a flag that skips the agent's own permission prompts (the container is
// the sandbox), and the documented way to drop them.
type DefaultArg struct {
	Args []string
	// DroppedBy lists the agent's flags that, given among the user's
	// arguments (as FLAG or FLAG=VALUE), drop Args: the opt-out, shown in
	// the launcher's help.
	DroppedBy []string
	// Why says why Args are a default, for the launcher's help.
	Why string
}

// nameRE is what a launcher's command name may be, compiled on first use,
// not at start: every moat process pays for what package init does.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`) })

// Check reports the first problem with p's data. The registry's test runs
// it on every profile; Apply runs it before merging.
func (p Profile) Check() error {
	checks := []func() error{p.checkText, p.checkInstall, p.checkCommand, p.checkPlaceholders,
		p.checkState, p.checkInstructions, p.checkFiles, p.checkSeed, p.checkMCP, p.checkHosts, p.checkDefaults}
	for _, check := range checks {
		if err := check(); err != nil {
			return fmt.Errorf("agent profile %q: %w", p.Name, err)
		}
	}
	return nil
}

func (p Profile) checkText() error {
	if !nameRE().MatchString(p.Name) {
		return fmt.Errorf("the name must match %s, to be a command name", nameRE())
	}
	if p.Short == "" {
		return errors.New("Short, the launcher's one-line help, is empty")
	}
	return nil
}

func (p Profile) checkInstall() error {
	for _, s := range p.Install {
		sp, err := deps.Parse(s)
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if sp.Method == deps.MethodDocker {
			return fmt.Errorf("install %q: a profile installs tools; a Docker mode is agent.yaml's to ask for", s)
		}
	}
	if _, err := deps.Resolve(p.Install); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

func (p Profile) checkCommand() error {
	if len(p.Command) == 0 || p.Command[0] == "" {
		return errors.New("the command has no program")
	}
	return nil
}

func (p Profile) checkPlaceholders() error {
	for _, ph := range p.Placeholders {
		g, ok := grant.Builtin(ph.Grant)
		if !ok {
			return fmt.Errorf("placeholder %s: %q is not a built-in grant kind", ph.Env, ph.Grant)
		}
		if _, ok := g.Placeholder()[ph.Env]; !ok && (ph.Env != "" || ph.File == "") {
			return fmt.Errorf("placeholder %s: grant %s sets no such variable", ph.Env, ph.Grant)
		}
		if ph.File == "" {
			continue
		}
		if err := checkContainerPath(ph.File); err != nil {
			return fmt.Errorf("login file of grant %s %w", ph.Grant, err)
		}
		if ph.Login == nil {
			return fmt.Errorf("login file %s of grant %s: no Login", ph.File, ph.Grant)
		}
	}
	return nil
}

func (p Profile) checkState() error {
	bases := map[string]bool{}
	for _, dir := range p.State {
		if err := checkContainerPath(dir); err != nil {
			return fmt.Errorf("state directory %w", err)
		}
		// The base name names the directory in the moat home.
		base := path.Base(dir)
		if bases[base] || !stateBaseRE().MatchString(base) {
			return fmt.Errorf("state directory %q: its base name must be unique and match %s", dir, stateBaseRE())
		}
		bases[base] = true
	}
	return nil
}

var stateBaseRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\.?[a-z0-9][a-z0-9._-]{0,40}$`) })

func (p Profile) checkInstructions() error {
	if p.Instructions == "" {
		return nil
	}
	if err := checkContainerPath(p.Instructions); err != nil {
		return fmt.Errorf("instructions file %w", err)
	}
	return nil
}

func (p Profile) checkFiles() error {
	for file := range p.Files {
		if err := checkContainerPath(file); err != nil {
			return fmt.Errorf("file %w", err)
		}
		if file == p.Instructions || p.inState(file) != "" {
			return fmt.Errorf("file %q: it would hide the instructions file or be inside a state directory", file)
		}
	}
	return nil
}

func (p Profile) checkMCP() error {
	if p.MCP == nil {
		return nil
	}
	if err := checkContainerPath(p.MCP.File); err != nil {
		return fmt.Errorf("MCP file %w", err)
	}
	if _, clash := p.Files[p.MCP.File]; clash || p.MCP.File == p.Instructions || p.inState(p.MCP.File) != "" {
		return fmt.Errorf("MCP file %q: it would hide another file or be inside a state directory", p.MCP.File)
	}
	if p.MCP.Render == nil {
		return errors.New("MCP needs Render")
	}
	return nil
}

func (p Profile) checkSeed() error {
	for file := range p.Seed {
		if err := checkContainerPath(file); err != nil {
			return fmt.Errorf("seed file %w", err)
		}
		if dir := p.inState(file); dir == "" || path.Dir(file) != dir || !stateBaseRE().MatchString(path.Base(file)) {
			return fmt.Errorf("seed file %q: want a file directly inside a state directory, its name matching %s", file, stateBaseRE())
		}
	}
	return nil
}

// inState returns the state directory file is in, or "".
func (p Profile) inState(file string) string {
	for _, dir := range p.State {
		if strings.HasPrefix(file, dir+"/") {
			return dir
		}
	}
	return ""
}

// checkContainerPath checks a path in the container that moat mounts:
// clean, absolute, not the root and not in the workspace, which is the
// user's.
func checkContainerPath(dir string) error {
	if !path.IsAbs(dir) || path.Clean(dir) != dir || dir == "/" {
		return fmt.Errorf("%q: want a clean absolute path below /", dir)
	}
	if dir == config.WorkspaceTarget || strings.HasPrefix(dir, config.WorkspaceTarget+"/") {
		return fmt.Errorf("%q: the workspace is the user's, not the agent's", dir)
	}
	return nil
}

func (p Profile) checkHosts() error {
	for _, h := range p.Hosts {
		r, err := policy.ParseRule(h, "agent profile")
		if err != nil {
			return err
		}
		if r.Host == "" {
			return fmt.Errorf("host %q: a profile reaches public names; addresses are agent.yaml's to allow", h)
		}
	}
	return nil
}

func (p Profile) checkDefaults() error {
	for k := range p.Defaults.Env {
		if err := config.CheckEnvName(k); err != nil {
			return fmt.Errorf("default env: %w", err)
		}
	}
	for _, d := range p.Defaults.Args {
		if len(d.Args) == 0 || d.Why == "" {
			return errors.New("a default argument needs Args and Why")
		}
		if len(d.DroppedBy) == 0 || slices.ContainsFunc(d.DroppedBy, func(f string) bool { return !strings.HasPrefix(f, "-") }) {
			return fmt.Errorf("default %q: DroppedBy must name the agent's flags that drop it", d.Args)
		}
	}
	return nil
}
