package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
)

// Options is what the user asked for.
type Options struct {
	// Opened is the workspace as OpenWorkspace returned it, its config
	// possibly shaped since (an agent profile applied): what the CLI passes.
	// When nil, Run opens Workspace itself, for callers that have nothing
	// to add to agent.yaml (tests, benchmarks).
	Opened      *Workspace
	Workspace   string   // path to the workspace; "" means the current directory
	Command     []string // overrides agent.yaml's command
	Env         []string // KEY=VALUE, or KEY to take the value from moat's environment
	Name        string   // overrides agent.yaml's name
	Detach      bool
	Interactive bool // forward stdin
	TTY         bool // give the container a terminal
	Rebuild     bool
	Keep        bool
	Grants      []string // grant names added to agent.yaml's grants
	// Ports are published besides agent.yaml's: the user's own choice,
	// so a host address other than loopback needs no approval.
	Ports []config.Port

	// Streams of an attached run.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TerminalSize reports the user's terminal size for TTY runs; Resized
	// signals that it changed.
	TerminalSize func() (width, height int)
	Resized      <-chan struct{}
	// Stopping, when set, is told that the user interrupted the attached
	// run and its command is being stopped, with the time it gets before
	// it is killed. Kill, when it closes, ends that time at once.
	Stopping func(r *state.Run, grace time.Duration)
	Kill     <-chan struct{}
	// Started, when set, is called once the run's command has started
	// (its sidecars ready), for a detached run too: the CLI says where
	// its published ports are reached.
	Started func(r *state.Run)
	// Detached, when set for an interactive run, reports whether Stdin
	// ended because the user typed the detach keys: the run then goes on
	// without moat (Result.Detached) instead of its stdin being closed.
	Detached func() bool
	// OnAttach, when set, is called once an attached run's streams are
	// attached, right before its command starts. A TTY run puts the
	// user's terminal in raw mode there, not before: what moat prints
	// until then (build progress, warnings, errors) reads normally, and
	// Ctrl-C during a build interrupts moat.
	OnAttach func()
}

// plan is a run resolved from Options and agent.yaml, before any engine
// object exists.
type plan struct {
	workspace string
	cfg       *config.Config
	name      string
	// randomName is whether moat drew name (no --name, no agent.yaml
	// name): taken by another run meanwhile, it is drawn again.
	randomName bool
	command    []string
	env        []string
	mounts     []runtime.Mount
	deps       []deps.Dep
	features   []feature
	uid, gid   int
	egress     *egressPlan
	ports      []state.Port // published, host addresses checked free
	networkCA  []byte       // network.ca's content, as read once for the proxy
	base       *runBase     // agent.yaml's base image, nil for config.yaml's
	// proxyBaseID is config.yaml's base image, checked: the proxy's, even
	// when agent.yaml names the run's own.
	proxyBaseID string

	limits config.Limits // the agent's (and its BuildKit sidecar's) limits

	buildkitVolume  string // the BuildKit sidecar's state volume, once created
	buildkitImageID string // the sidecar's image (moat's helper added), as checked before the run
	buildkitBaseID  string // the BuildKit image it is made of
	sandboxDigest   string // what the approved sandbox gives, for cache keys
}

// defaultCommand runs when neither the CLI nor agent.yaml names one.
var defaultCommand = []string{"bash"}

// WorkspaceTarget is where the workspace appears in the container.
const WorkspaceTarget = config.WorkspaceTarget

// fallbackUID is the agent's UID when the workspace belongs to root: the
// agent never runs as root.
const fallbackUID = 1000

// Workspace is a workspace directory that passed every check, and its
// agent.yaml as loaded. Only OpenWorkspace makes one, so a run's workspace
// has always been checked before its agent.yaml was read.
type Workspace struct {
	path  string
	cfg   *config.Config
	above bool // found upward from the current directory
}

// Above reports whether the workspace is a parent of the current directory,
// found by its agent.yaml, not the directory the user named or was in.
func (w *Workspace) Above() bool { return w.above }

// Path is the workspace's absolute path, links resolved.
func (w *Workspace) Path() string { return w.path }

// Config is the workspace's agent.yaml as loaded, or as WithConfig replaced
// it; the zero Config when the workspace has none.
func (w *Workspace) Config() *config.Config { return w.cfg }

// WithConfig returns the same workspace with cfg as its agent.yaml, for a
// caller that adds to the config (an agent profile). What cfg asks for is
// still checked against what the user approved, like agent.yaml itself.
func (w *Workspace) WithConfig(cfg *config.Config) *Workspace {
	return &Workspace{path: w.path, cfg: cfg, above: w.above}
}

// OpenWorkspace checks the workspace at path ("" is the current directory),
// then loads its agent.yaml: a workspace moat must refuse is refused before
// anything in it is read.
//
// With no path, the workspace is the nearest directory upward from the
// current one that holds agent.yaml, as git finds a repository, or the
// current directory if none does; Above says whether it was a parent.
func (m *Manager) OpenWorkspace(path string) (*Workspace, error) {
	ws, err := resolveWorkspace(path)
	if err != nil {
		return nil, err
	}
	above := false
	if path == "" {
		if found := configAbove(ws); found != "" {
			ws, above = found, true
		}
	}
	if err := m.checkWorkspace(ws); err != nil {
		return nil, err
	}
	cfg, err := config.Load(ws)
	if err != nil {
		return nil, err
	}
	return &Workspace{path: ws, cfg: cfg, above: above}, nil
}

// configAbove returns the nearest parent of dir that holds agent.yaml, or
// "" if dir holds one itself or none does. The search stops below the
// user's home directory when dir is inside it: an agent.yaml in the home
// would otherwise make every directory without one a workspace of the
// whole home.
func configAbove(dir string) string {
	if _, err := os.Lstat(filepath.Join(dir, config.FileName)); err == nil {
		return ""
	}
	ceiling := homeCeiling(dir)
	for d := filepath.Dir(dir); ceiling == "" || d != ceiling && within(ceiling, d); d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, config.FileName)); err == nil {
			return d
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return ""
}

// homeCeiling is the user's home directory if dir is below it, else "".
func homeCeiling(dir string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	if h, err := filepath.EvalSymlinks(home); err == nil {
		home = h
	}
	if dir == home || !within(home, dir) {
		return ""
	}
	return home
}

// loadWorkspace starts a plan from the workspace at path.
func (m *Manager) loadWorkspace(path string) (*plan, error) {
	ws, err := m.OpenWorkspace(path)
	if err != nil {
		return nil, err
	}
	return ws.plan(), nil
}

func (w *Workspace) plan() *plan { return &plan{workspace: w.path, cfg: w.cfg} }

// startPlan starts the plan of a run from the workspace opts carries,
// opening it when the caller did not.
func (m *Manager) startPlan(opts Options) (*plan, error) {
	switch {
	case opts.Opened == nil:
		return m.loadWorkspace(opts.Workspace)
	case opts.Workspace != "":
		return nil, errors.New("run options name the workspace twice: set Opened or Workspace, not both")
	}
	return opts.Opened.plan(), nil
}

func (m *Manager) resolve(ctx context.Context, opts Options) (*plan, error) {
	p, err := m.startPlan(opts)
	if err != nil {
		return nil, err
	}
	if err := m.resolveLimits(ctx, p); err != nil {
		return nil, err
	}
	// Approval comes before grants are loaded: a hostile agent.yaml
	// must not lead to 'moat grant' hints, let alone to credentials.
	steps := append(m.approvedSteps(ctx), resolveEgress, resolvePorts)
	for _, step := range steps {
		if err := step(m, opts, p); err != nil {
			return nil, err
		}
	}
	for _, f := range p.features {
		if err := f.check(ctx, m, p); err != nil {
			return nil, err
		}
	}
	p.randomName = opts.Name == "" && p.cfg.Name == ""
	if err := m.ensureNameIndex(); err != nil {
		return nil, err
	}
	if p.name, err = m.freeName(ctx, p.name, p.randomName); err != nil {
		return nil, err
	}
	return p, nil
}

// approvedSteps resolve a run's plan up to the image and the user's
// approval of what agent.yaml asks for: what 'moat build' checks too.
func (m *Manager) approvedSteps(ctx context.Context) []func(*Manager, Options, *plan) error {
	return []func(*Manager, Options, *plan) error{
		resolveName, resolveCommand, resolveEnv, resolveMounts, resolveDeps, resolveUser, resolveNetworkCA,
		func(m *Manager, _ Options, p *plan) error { return m.resolveBase(ctx, p) },
		checkApproval,
	}
}

// freeName returns name if no active run has it. A random name that is
// taken is drawn again: the user did not choose it. The check is made
// again when the run takes the name (claimName), under the store's lock.
func (m *Manager) freeName(ctx context.Context, name string, random bool) (string, error) {
	for tries := 0; ; tries++ {
		err := m.checkNameFree(ctx, name)
		var inUse *NameInUseError
		if !random || tries == 20 || !errors.As(err, &inUse) {
			return name, err
		}
		name = randomName()
	}
}

// ensureNameIndex builds the store's run name index, under the store's
// lock, in a home made before it.
func (m *Manager) ensureNameIndex() error {
	if m.Store.NamesIndexed() {
		return nil
	}
	unlock, err := m.Store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	return m.Store.IndexNames()
}

// WorkspaceError reports a workspace path that cannot be used.
type WorkspaceError struct {
	Path string
	Err  error
}

func (e *WorkspaceError) Error() string { return fmt.Sprintf("workspace %s: %v", e.Path, e.Err) }
func (e *WorkspaceError) Unwrap() error { return e.Err }
func (e *WorkspaceError) Hint() string {
	return "Give the path of an existing directory: moat run ./project -- cmd"
}

func resolveWorkspace(path string) (string, error) {
	if path == "" {
		path = "."
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", &WorkspaceError{Path: path, Err: err}
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return "", &WorkspaceError{Path: path, Err: errors.New("no such directory")}
	}
	if err != nil {
		return "", &WorkspaceError{Path: path, Err: err}
	}
	if !fi.IsDir() {
		return "", &WorkspaceError{Path: path, Err: errors.New("not a directory")}
	}
	return filepath.EvalSymlinks(abs)
}

func resolveName(_ *Manager, opts Options, p *plan) error {
	switch {
	case opts.Name != "":
		p.name = opts.Name
	case p.cfg.Name != "":
		p.name = p.cfg.Name
	default:
		p.name = randomName()
		return nil
	}
	return config.CheckName(p.name)
}

func resolveCommand(_ *Manager, opts Options, p *plan) error {
	switch {
	case len(opts.Command) > 0:
		p.command = opts.Command
	case len(p.cfg.Command) > 0:
		p.command = p.cfg.Command
	default:
		p.command = defaultCommand
	}
	return nil
}

// resolveEnv merges agent.yaml's env with -e flags; flags win.
func resolveEnv(_ *Manager, opts Options, p *plan) error {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, k := range sortedKeys(p.cfg.Env) {
		set(k, p.cfg.Env[k])
	}
	for _, e := range opts.Env {
		k, v, hasValue := strings.Cut(e, "=")
		if err := config.CheckEnvName(k); err != nil {
			return fmt.Errorf("-e %s: %w", e, err)
		}
		if !hasValue {
			hv, ok := os.LookupEnv(k)
			if !ok {
				continue // like docker: an unset variable is not passed
			}
			v = hv
		}
		set(k, v)
	}
	for _, k := range order {
		p.env = append(p.env, k+"="+vals[k])
	}
	return nil
}

// resolveMounts resolves each mount's source, links included, now: what
// agent.yaml names may have been replaced by the agent since the last run.
func resolveMounts(m *Manager, _ Options, p *plan) error {
	p.mounts = []runtime.Mount{{Source: p.workspace, Target: WorkspaceTarget}}
	protected := m.protectedPaths()
	for _, mt := range p.cfg.Mounts {
		if err := checkMountTarget(mt, p); err != nil {
			return err
		}
		src, err := m.resolveMountSource(mt, p, protected)
		if err != nil {
			return err
		}
		p.mounts = append(p.mounts, runtime.Mount{Source: src, Target: mt.Target, ReadOnly: mt.ReadOnly})
	}
	return nil
}

func expandSource(src, workspace string) string {
	if rest, ok := strings.CutPrefix(src, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if filepath.IsAbs(src) {
		return filepath.Clean(src)
	}
	return filepath.Join(workspace, src)
}

// MountError reports a mount whose host side does not exist.
type MountError struct {
	File   string
	Mount  config.Mount
	Source string
}

func (e *MountError) Error() string {
	return fmt.Sprintf("%s: mount %s: source %s does not exist", e.File, printable(e.Mount.String()), printable(e.Source))
}

// Hint names the command that creates the source, shell-quoted: agent.yaml
// (the agent's) chose the path. A path a terminal cannot show as it is
// gets no command to copy.
func (e *MountError) Hint() string {
	if !termtext.Printable(e.Source) {
		return fmt.Sprintf("Create that directory, or remove the mount from %s.", e.File)
	}
	return fmt.Sprintf("Create it with\n  mkdir -p %s\nor remove the mount from %s.", termtext.ShellQuote(e.Source), e.File)
}

// resolveDeps picks the features of the dependencies config resolved.
func resolveDeps(_ *Manager, _ Options, p *plan) error {
	set := p.cfg.Dependencies
	p.deps, p.features = set, featuresFor(set, p.cfg.Docker.NoBuildkit)
	if p.cfg.AgentSetup != nil {
		p.features = append(p.features, &agentFeature{setup: p.cfg.AgentSetup})
	}
	return nil
}

// resolveUser picks the agent's UID and GID: those of the workspace owner,
// so files the agent creates belong to the user on the host.
func resolveUser(m *Manager, _ Options, p *plan) error {
	fi, err := os.Stat(p.workspace)
	if err != nil {
		return &WorkspaceError{Path: p.workspace, Err: err}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		p.uid, p.gid = os.Getuid(), os.Getgid()
	} else {
		p.uid, p.gid = int(st.Uid), int(st.Gid)
	}
	if p.uid == 0 {
		m.warnf("the workspace %s belongs to root; the agent runs as uid %d, not root, and cannot write to it.\n"+
			"Run moat as the workspace's owner, or chown the workspace to a regular user.", p.workspace, fallbackUID)
		p.uid, p.gid = fallbackUID, fallbackUID
	}
	return nil
}

// NameInUseError reports that an active run already has the name.
type NameInUseError struct{ Name, RunID string }

func (e *NameInUseError) Error() string {
	return fmt.Sprintf("run name %q is already in use by run %s", e.Name, e.RunID)
}

func (e *NameInUseError) Hint() string {
	return fmt.Sprintf("Choose another name with --name, or stop that run first: moat stop %s", e.RunID)
}

// checkNameFree refuses a name held by a run that may still have a live
// container; finished runs do not hold their name. The store's name index
// says which run to check (ensureNameIndex builds it in an older home).
func (m *Manager) checkNameFree(ctx context.Context, name string) error {
	id, indexed, err := m.Store.NameHolder(name)
	if err != nil {
		return err
	}
	if !indexed {
		return errors.New("the run name index is missing")
	}
	if id == "" {
		return nil
	}
	r, err := m.Store.Load(id)
	if err != nil || r.Name != name || !r.Status.Active() || !m.stillActive(ctx, r) {
		return nil // finished, destroyed or unreadable: the name is free
	}
	return &NameInUseError{Name: name, RunID: r.ID}
}

// activeRunWhere returns a run that match accepts and that is still active
// once checked against the engine, or nil.
func (m *Manager) activeRunWhere(ctx context.Context, match func(*state.Run) bool) (*state.Run, error) {
	runs, err := m.Store.List()
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.Status.Active() && match(r) && m.stillActive(ctx, r) {
			return r, nil
		}
	}
	return nil, nil
}

// stillActive re-checks an active-looking record against the engine.
func (m *Manager) stillActive(ctx context.Context, r *state.Run) bool {
	if err := m.reconcileOne(ctx, r, nil); err != nil {
		return true
	}
	return r.Status.Active()
}
