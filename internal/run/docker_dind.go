package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "embed"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// volumeEngine creates the volumes a run's features need.
type volumeEngine interface {
	CreateVolume(ctx context.Context, name string, labels map[string]string) error
}

// dindCapabilities is what a nested Docker daemon needs beyond
// initCapabilities: SYS_ADMIN, for one step of moat-init, which mounts a
// fresh proc and sysfs in a private mount namespace for the daemon and
// then gives SYS_ADMIN up for good, before the daemon answers and long
// before the agent's command starts. The daemon itself runs as root of a
// user namespace whose root is the agent's user on the host (moat
// userns-run), where it holds every capability it needs over its own
// namespaces only.
var dindCapabilities = []string{"SYS_ADMIN"}

// dindDevices are the host devices the run gets: the tun device, which
// slirp4netns opens to connect the daemon's network namespace to the run's
// loopback.
var dindDevices = []string{"/dev/net/tun"}

// dindSeccomp is Docker's default seccomp profile plus the namespace and
// mount system calls a daemon in a user namespace makes (the kernel checks
// each of them against the caller's user namespace); the rest of the calls
// Docker's profile gates on CAP_SYS_ADMIN stay denied even while moat-init
// holds it. scripts/dind-seccomp.py derives it from moby's profile.
//
//go:embed dind-seccomp.json
var dindSeccomp []byte

// dindSecurityOpt gives the run container dindSeccomp, compacted, as the
// engine API takes it: the profile's JSON itself, not a path.
func dindSecurityOpt() ([]string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, dindSeccomp); err != nil {
		return nil, fmt.Errorf("moat's docker:dind seccomp profile is not valid JSON: %w", err)
	}
	return []string{"seccomp=" + b.String()}, nil
}

// buildkitCapabilities are the BuildKit sidecar's, for moat's helper, which
// starts as the container's root (buildkitSpec): CHOWN to give the state
// volume to the agent's user, SYS_ADMIN for the private mount namespace and
// its fresh proc and sysfs, SETPCAP to empty the bounding set, SETUID and
// SETGID to become the agent's user and map the namespace. The helper
// holds none of them once buildkitd starts, and buildkitd, as root of the
// namespace, has every capability there only. Never --privileged.
var buildkitCapabilities = []string{"CHOWN", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN"}

// The user namespace the inner daemon runs in: uid and gid 0 there are the
// agent's on the host, 1..dindSubCount are host ids from dindSubStart
// (files that inner containers' non-root users write to a bind mount land
// with those owners on the host).
const (
	dindSubStart = 100000
	dindSubCount = 65536
)

// DefaultDindReadyTimeout bounds how long the inner daemon may take to
// start, unless agent.yaml's docker.ready_timeout says otherwise.
const DefaultDindReadyTimeout = 30 * time.Second

// Where the nested daemon keeps its state and its log in the container.
// The log stays in the container, where nothing of the inner daemon's
// namespace reaches it, and moat copies it into the run's directory when
// the run finishes (dockerDind.salvage): no directory of moat's home is mounted
// into the run for it.
const (
	dindDataDir   = "/var/lib/docker"
	dindLogDir    = "/var/log/moat-dind"
	dindLogFile   = "dockerd.log"
	dindLogSubdir = "dind"
	dindLogLimit  = 4 << 20 // bytes of the log's end that are kept
)

// dindArgs are the inner daemon's extra flags: the registries agent.yaml
// lets it reach over plain HTTP, and any a test adds (dindTestArgs, empty
// but in test builds).
func dindArgs(insecure []string) string {
	var args []string
	for _, r := range insecure {
		args = append(args, "--insecure-registry="+r)
	}
	if extra := dindTestArgs(); extra != "" {
		args = append(args, extra)
	}
	return strings.Join(args, " ")
}

// dockerDind gives the agent its own Docker daemon, started by moat-init
// before the command, with its state on an engine volume.
type dockerDind struct{ phases }

// The variables docker:dind sets for moat-init.
var (
	envDind        = initVar{name: "MOAT_DIND", meaning: "1: moat-init starts the run's own Docker daemon before the command and stops it after"}
	envDindTimeout = initVar{name: "MOAT_DIND_TIMEOUT", meaning: "seconds the inner daemon may take to answer (docker.ready_timeout)"}
	envDindLog     = initVar{name: "MOAT_DIND_LOG", meaning: "the inner daemon's log in the container, which moat saves with the run"}
	envDindArgs    = initVar{name: "MOAT_DIND_ARGS", meaning: "the inner daemon's extra flags (docker.insecure_registries)"}
	envDindSubIDs  = initVar{name: "MOAT_DIND_SUBIDS", meaning: "START:COUNT, the host ids of the inner daemon's user namespace beyond its root"}
	envUsernsRun   = initVar{name: "MOAT_USERNS_RUN", meaning: "moat's binary in the image, which starts the daemon in its user namespace"}
)

func (dockerDind) initContract() initContract {
	return initContract{
		steps: []string{"start_dind", "setup_dind", "write_docker_proxies", "run_then_stop_dind"},
		env:   []initVar{envDind, envDindTimeout, envDindLog, envDindArgs, envDindSubIDs, envUsernsRun},
	}
}

func (dockerDind) check(ctx context.Context, m *Manager, _ *plan) error {
	if err := refusal(ctx, m, "docker:dind"); err != nil {
		return err
	}
	_, err := dindEngine(m)
	return err
}

// featureRefuser is an engine that can say, before anything is built, why
// it cannot give a run a feature (a cluster, in its own words).
type featureRefuser interface {
	RefuseFeature(ctx context.Context, feature string) error
}

// refusal is the engine's reason against feature, or nil.
func refusal(ctx context.Context, m *Manager, feature string) error {
	if fr, ok := m.Engine.(featureRefuser); ok {
		return fr.RefuseFeature(ctx, feature)
	}
	return nil
}

func dindEngine(m *Manager) (volumeEngine, error) {
	ve, ok := m.Engine.(volumeEngine)
	if !ok {
		return nil, &runtime.UnsupportedError{Feature: "docker:dind", Engine: "this container runtime",
			Reason: "it cannot run a nested Docker daemon", Remedy: "Run moat against a Docker engine to use docker:dind."}
	}
	return ve, nil
}

// shape gives the agent's container what moat-init needs to start the
// daemon (a capability until then, a seccomp profile, a device) and the
// daemon's state volume.
func (dockerDind) shape(ctx context.Context, m *Manager, r *state.Run, p *plan, _ image.Result, spec *runtime.ContainerSpec, undo *cleanupStack) error {
	vol, err := m.dindVolume(ctx, r, p, undo)
	if err != nil {
		return err
	}
	secOpt, err := dindSecurityOpt()
	if err != nil {
		return err
	}
	timeout := p.cfg.Docker.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultDindReadyTimeout
	}
	spec.CapAdd = union(spec.CapAdd, dindCapabilities)
	spec.SecurityOpt = append(spec.SecurityOpt, secOpt...)
	spec.Devices = append(spec.Devices, dindDevices...)
	// Images the agent runs inside may rely on setuid binaries (su, ping);
	// the agent's own command still runs with no_new_privs (moat-init).
	spec.NoNewPrivileges = false
	spec.Volumes = append(spec.Volumes, runtime.VolumeMount{Name: vol, Target: dindDataDir})
	spec.Env = append(spec.Env, envDind.is("1"),
		envDindTimeout.is(strconv.Itoa(int(timeout.Seconds()))),
		envDindLog.is(dindLogDir+"/"+dindLogFile),
		envDindArgs.is(dindArgs(p.cfg.Docker.InsecureRegistries)),
		envDindSubIDs.is(strconv.Itoa(dindSubStart)+":"+strconv.Itoa(dindSubCount)),
		envUsernsRun.is(image.MoatPath))
	r.Privileges = append(r.Privileges, state.Privilege{
		What:   "capability SYS_ADMIN until the inner daemon starts; a seccomp profile for namespaces and mounts; the device /dev/net/tun",
		Reason: "docker:dind",
		Effect: "the inner daemon and the containers the agent starts run as root of a user namespace that is the agent's user on the host; " +
			"they are not a boundary against a kernel bug in user namespaces",
	})
	m.warnf("docker:dind runs a Docker daemon inside this run, in a user namespace: root there is your user on the host, not root;\n" +
		"containers the agent starts are isolated from the host's engine but not a security boundary against a kernel bug.")
	return nil
}

// salvage copies the inner daemon's log from the run's container into
// the run's directory, before the container goes.
func (dockerDind) salvage(ctx context.Context, m *Manager, r *state.Run) {
	cp, ok := m.Engine.(interface {
		CopyFileFrom(ctx context.Context, id, path string, limit int64) ([]byte, error)
	})
	if !ok || r.ContainerID == "" || !slices.ContainsFunc(r.Deps, func(k string) bool { return k == "docker:dind" || strings.HasPrefix(k, "docker:dind+") }) {
		return
	}
	b, err := cp.CopyFileFrom(ctx, r.ContainerID, dindLogDir+"/"+dindLogFile, dindLogLimit)
	if errors.Is(err, runtime.ErrNotFound) {
		return // the daemon never started, or the container is gone
	}
	if err == nil {
		dir := m.Store.Path(r.ID, dindLogSubdir)
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(dir, dindLogFile), b, 0o644)
		}
	}
	if err != nil {
		m.warnf("saving the inner Docker daemon's log of run %s: %v", r.ID, err)
	}
}

// dindVolume creates the volume for the inner daemon's state: one per run,
// removed with it, or, with docker.cache, one per workspace that outlives
// its runs.
func (m *Manager) dindVolume(ctx context.Context, r *state.Run, p *plan, undo *cleanupStack) (string, error) {
	ve, err := dindEngine(m)
	if err != nil {
		return "", err
	}
	lbl := map[string]string{labels.Managed: "true", labels.Workspace: p.workspace, labels.Version: m.Version, labels.Home: m.homeID()}
	if p.cfg.Docker.Cache {
		name := DindCacheVolume(p.workspace, p.sandboxDigest)
		if err := m.checkCacheFree(ctx, r, name); err != nil {
			return "", err
		}
		if err := ve.CreateVolume(ctx, name, m.cacheLabels(r, p, labels.RoleDindCache)); err != nil {
			return "", fmt.Errorf("creating the docker:dind cache volume: %w", err)
		}
		r.Volumes = append(r.Volumes, m.cacheRecord(ctx, r, p, labels.RoleDindCache, name))
		return name, nil
	}
	name := "moat-dind-" + r.ID
	lbl[labels.Role], lbl[labels.RunID], lbl[labels.RunName] = labels.RoleDind, r.ID, r.Name
	if err := ve.CreateVolume(ctx, name, lbl); err != nil {
		return "", fmt.Errorf("creating the docker:dind volume: %w", err)
	}
	undo.push(func(c context.Context) { m.Engine.RemoveVolume(c, name) })
	r.Volumes = append(r.Volumes, state.Volume{Name: name})
	return name, nil
}

// DindCacheVolume is the name of a workspace's docker:dind cache volume
// under an approved sandbox (its digest). "ns": the state of a daemon in a
// user namespace; a cache an older moat left (owned by host root,
// unreadable to the namespaced daemon) is not reused, and 'moat clean
// --caches' removes it.
func DindCacheVolume(workspace, digest string) string {
	return cacheVolumeName("moat-dind-cache-ns-", workspace, digest)
}

// CacheInUseError reports that another active run uses the workspace's
// docker:dind cache: two daemons must never share one state directory.
type CacheInUseError struct{ Volume, RunID string }

func (e *CacheInUseError) Error() string {
	return fmt.Sprintf("the docker:dind cache %s of this workspace is in use by run %s", e.Volume, e.RunID)
}

func (e *CacheInUseError) Hint() string {
	return fmt.Sprintf("Wait for run %s to end or stop it ('moat stop %s'), or turn docker.cache off for this run.", e.RunID, e.RunID)
}

func (m *Manager) checkCacheFree(ctx context.Context, self *state.Run, volume string) error {
	r, err := m.activeRunWhere(ctx, func(r *state.Run) bool {
		return r.ID != self.ID && slices.ContainsFunc(r.Volumes, func(v state.Volume) bool { return v.Name == volume })
	})
	if r != nil {
		return &CacheInUseError{Volume: volume, RunID: r.ID}
	}
	return err
}

// usesDind reports whether a dependency set runs an inner daemon.
func usesDind(set []deps.Dep) bool {
	return slices.ContainsFunc(set, func(d deps.Dep) bool { return d.Method == deps.MethodDocker && d.Mode == deps.DockerDind })
}

// union returns a with the elements of b it lacks, in order.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
