package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// agentFeature gives a run of an agent profile what the profile asks of
// the run beyond agent.yaml: its state directories, kept per workspace
// and agent in the moat home and mounted back, so sessions and settings
// outlive the run; and a read-only note about the sandbox at the file the
// agent reads standing instructions from.
//
// A state directory is the agent's to write, so it is hostile input: moat
// makes it and mounts it, and never reads, follows or writes anything
// inside it. Deleting a run keeps it; 'moat clean' says where it is.
type agentFeature struct {
	phases
	setup *config.AgentSetup
}

// AgentStateRoot is where the moat home keeps agents' state directories:
// AgentStateRoot/<agent>/<workspace key>/<directory's base name>.
const AgentStateRoot = "agent-state"

func (f *agentFeature) shape(_ context.Context, m *Manager, r *state.Run, p *plan, _ image.Result, spec *runtime.ContainerSpec, _ *cleanupStack) error {
	mounts, err := f.stateMounts(m, p.workspace, p.uid, p.gid)
	if err != nil {
		return err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	files := slices.Clone(f.setup.Files)
	grantFiles, err := f.loginFiles(p)
	if err != nil {
		return err
	}
	for _, file := range grantFiles {
		for _, v := range loginTokens(file.Content) {
			p.egress.loginPlaceholders = append(p.egress.loginPlaceholders,
				egress.Placeholder{Value: v, What: "the login file " + file.Path})
		}
	}
	if f.setup.Instructions != "" {
		files = append(files, config.AgentFile{Path: f.setup.Instructions, Content: sandboxNote(p)})
	}
	if len(files) == 0 && len(grantFiles) == 0 {
		return nil
	}
	// The files live in the run's directory, moat's own, and reach the
	// container through read-only mounts: the agent cannot change what
	// later runs get.
	dir := filepath.Join(m.Store.Dir(r.ID), "agent-files")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("writing the agent's files: %w", err)
	}
	var installs []string
	for i, file := range append(files, grantFiles...) {
		name := fmt.Sprintf("%d-%s", i, path.Base(file.Path))
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, []byte(file.Content), 0o644); err != nil {
			return fmt.Errorf("writing the agent's file %s: %w", file.Path, err)
		}
		if i >= len(files) {
			// A login file goes where the agent looks for its login, in
			// its state directory: mounted there, never copied, so nothing
			// of the agent's (a link) is followed.
			spec.MoatFiles = append(spec.MoatFiles, runtime.MoatFile{Source: src, Target: file.Path})
			continue
		}
		// The others are system files outside the agent's directories:
		// moat-init copies them into place as root, since some agents
		// (Gemini CLI) ignore managed settings that root does not own,
		// and mounted files are the host user's.
		staged := path.Join(agentFilesTarget, name)
		spec.MoatFiles = append(spec.MoatFiles, runtime.MoatFile{Source: src, Target: staged})
		installs = append(installs, staged+":"+file.Path)
	}
	if len(installs) > 0 {
		spec.Env = append(spec.Env, envAgentFiles.is(strings.Join(installs, " ")))
	}
	return nil
}

// agentFilesTarget is where the agent's container finds the profile's
// system files before moat-init installs them.
const agentFilesTarget = "/moat-agent-files"

// envAgentFiles lists the files moat-init installs, STAGED:TARGET.
var envAgentFiles = initVar{name: "MOAT_AGENT_FILES",
	meaning: "the agent profile's system files, STAGED:TARGET pairs: moat-init copies each into place, root's, 0644"}

func (*agentFeature) initContract() initContract {
	return initContract{steps: []string{"install_agent_files"}, env: []initVar{envAgentFiles}}
}

// check refuses, before anything is built, a run with two grants that
// each give the agent its login in the same file (an API key and a
// subscription): the agent would have to pick one.
func (f *agentFeature) check(_ context.Context, _ *Manager, p *plan) error {
	_, err := f.loginFiles(p)
	return err
}

// loginFiles are the profile's login files for the run's grants, each
// holding placeholders and the grant's public fields (an account id).
func (f *agentFeature) loginFiles(p *plan) ([]config.AgentFile, error) {
	if f.setup == nil || p.egress == nil {
		return nil, nil
	}
	var files []config.AgentFile
	by := map[string]string{} // path -> grant
	for _, gf := range f.setup.GrantFiles {
		for _, g := range p.egress.grants {
			if string(g.Grant.Kind) != gf.Kind {
				continue
			}
			if first, dup := by[gf.Path]; dup {
				return nil, &LoginChoiceError{File: configName(p), Agent: f.setup.Name, First: first, Second: g.Grant.Name}
			}
			by[gf.Path] = g.Grant.Name
			public := grant.Public(g.Grant, grant.NewSecret(g.Secret))
			files = append(files, config.AgentFile{Path: gf.Path, Content: gf.Login(public)})
		}
	}
	return files, nil
}

// loginTokens returns the placeholder tokens of a login file: its quoted
// strings that spell moat's placeholder marker, long enough to be told
// from ordinary text.
func loginTokens(content string) []string {
	var out []string
	for i, part := range strings.Split(content, `"`) {
		if i%2 == 1 && len(part) >= 16 && grant.IsPlaceholderMarked(part) && !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	return out
}

// LoginChoiceError reports a run with two grants that each log the agent
// in (an API key and a subscription): a run uses one.
type LoginChoiceError struct {
	File, Agent   string
	First, Second string
}

func (e *LoginChoiceError) Error() string {
	return fmt.Sprintf("%s: grants %s and %s both log %s in; a run uses one", e.File, e.First, e.Second, e.Agent)
}

func (e *LoginChoiceError) Hint() string {
	return fmt.Sprintf("Choose one for this run: keep only --grant %s or --grant %s (and in agent.yaml's grants, only one of them).",
		e.First, e.Second)
}

// stateMounts makes or finds the profile's state directories for the
// workspace ws, seeding those it makes, and returns their mounts.
func (f *agentFeature) stateMounts(m *Manager, ws string, uid, gid int) ([]runtime.Mount, error) {
	var mounts []runtime.Mount
	for _, dir := range f.setup.State {
		src, made, err := m.agentStateDir(f.setup.Name, ws, path.Base(dir), uid, gid)
		if err != nil {
			return nil, err
		}
		if made {
			if err := f.seed(src, dir, uid, gid); err != nil {
				return nil, err
			}
		}
		mounts = append(mounts, runtime.Mount{Source: src, Target: dir})
	}
	return mounts, nil
}

// seed writes the profile's seed files for the state directory mounted at
// target into src, which moat has just made: nothing the agent wrote can
// be there yet, and O_EXCL makes sure nothing is replaced.
func (f *agentFeature) seed(src, target string, uid, gid int) error {
	for _, file := range f.setup.Seed {
		if path.Dir(file.Path) != target {
			continue
		}
		name := filepath.Join(src, path.Base(file.Path))
		fh, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return fmt.Errorf("seeding %s's state: %w", f.setup.Name, err)
		}
		_, err = fh.WriteString(file.Content)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Lchown(name, uid, gid)
		}
		if err != nil {
			return fmt.Errorf("seeding %s's state: %w", f.setup.Name, err)
		}
	}
	return nil
}

// AgentStateDir is the host directory that keeps state directory base of
// agent for the workspace at ws (absolute and clean).
func AgentStateDir(home, agent, ws, base string) string {
	return filepath.Join(home, AgentStateRoot, agent, workspaceKey(ws), base)
}

// workspaceKey names a workspace's state: its base name, for people
// reading the moat home, and a hash of its path, for uniqueness. A
// workspace that moves starts with new state.
func workspaceKey(ws string) string {
	sum := sha256.Sum256([]byte(ws))
	name := unsafeKeyChars().ReplaceAllString(filepath.Base(ws), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return name + "-" + hex.EncodeToString(sum[:6])
}

var unsafeKeyChars = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9._-]`) })

// agentStateDir makes (or finds) a state directory, owned by the agent's
// UID and GID so the agent can write it, and returns its path and whether
// it made it. The directories above it are moat's, mode 0700.
func (m *Manager) agentStateDir(agent, ws, base string, uid, gid int) (string, bool, error) {
	dir := AgentStateDir(m.Store.Root, agent, ws, base)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", false, fmt.Errorf("making %s's state directory: %w", agent, err)
	}
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return "", false, fmt.Errorf("making %s's state directory: %w", agent, err)
	}
	made := err == nil
	// Lstat, not Stat: nothing but moat writes where the directory is
	// (the agent writes inside it), but a link there is never followed.
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return "", false, fmt.Errorf("%s's state directory %s is not a directory; remove it and run again", agent, dir)
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return "", false, fmt.Errorf("giving %s's state directory to the agent's UID %d: %w", agent, uid, err)
	}
	return dir, made, nil
}

// sandboxNote tells the agent where it runs: in a sandbox, what it can
// reach, that credentials are injected, and what to do when a request
// is refused.
func sandboxNote(p *plan) string {
	var b strings.Builder
	b.WriteString("# You are running in a moat sandbox\n\n")
	b.WriteString("moat runs you in a container: it is the security boundary, so you do not need to ask before running commands or editing files in it.\n\n")
	fmt.Fprintf(&b, "- The user's project is mounted read-write at %s. Changes elsewhere in the container are lost when the run ends, except your own settings and sessions.\n", WorkspaceTarget)
	if p.egress == nil || p.egress.mode() == policy.None {
		b.WriteString("- This run has no network: every request fails. If the task needs the network, tell the user that agent.yaml's network.policy is none.\n")
		return b.String()
	}
	if p.egress.mode() == policy.Permissive {
		b.WriteString("- You can reach public hosts through moat's proxy; every request is recorded.\n")
	} else {
		fmt.Fprintf(&b, "- You can reach only these hosts, through moat's proxy: %s. Every request is recorded.\n", strings.Join(reachable(p), ", "))
	}
	b.WriteString("- A request the policy refuses gets HTTP 403 with an X-Moat-Blocked header that names the rule to add. Do not try to get around it: tell the user which host you need, and that they can add it to network.allow in agent.yaml.\n")
	if names := p.egress.grantNames(); len(names) > 0 {
		fmt.Fprintf(&b, "- Credentials (%s) are added to your requests by the proxy. Variables such as API keys in your environment hold placeholders, not the real values: use them as they are, and never print or copy them.\n", strings.Join(names, ", "))
	}
	return b.String()
}

// reachable lists what a strict run can reach: agent.yaml's allow rules
// (the profile's among them), its mapped names and its grants' hosts.
func reachable(p *plan) []string {
	var out []string
	for _, a := range p.egress.network.Allow {
		out = append(out, a.Text)
	}
	for _, h := range p.egress.network.Hosts {
		out = append(out, h.Name)
	}
	for _, g := range p.egress.grants {
		out = append(out, g.Grant.Hosts...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
