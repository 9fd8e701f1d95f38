package run

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// volumeEngine creates the volumes a run's features need.
type volumeEngine interface {
	CreateVolume(ctx context.Context, name string, labels map[string]string) error
}

// dindCapabilities is what a nested Docker daemon needs beyond
// initCapabilities: Docker's default set for the containers it starts, plus
// SYS_ADMIN (mounts, namespaces) and NET_ADMIN (bridges, iptables). It is
// an explicit list, not --privileged, which fails on hosts whose bounding
// set lacks some capabilities and would grant devices and more.
var dindCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_ADMIN",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_CHROOT",
}

// dindSecurityOpt lifts the profiles that block a nested daemon's mounts.
var dindSecurityOpt = []string{"seccomp=unconfined", "apparmor=unconfined"}

// DefaultDindReadyTimeout bounds how long the inner daemon may take to
// start, unless agent.yaml's docker.ready_timeout says otherwise.
const DefaultDindReadyTimeout = 30 * time.Second

// Where the nested daemon keeps its state and its log in the container.
const (
	dindDataDir   = "/var/lib/docker"
	dindLogDir    = "/run/moat/dind"
	dindLogFile   = "dockerd.log"
	dindLogSubdir = "dind"
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
type dockerDind struct{}

func (dockerDind) check(_ context.Context, m *Manager, _ *plan) error {
	_, err := dindEngine(m)
	return err
}

func dindEngine(m *Manager) (volumeEngine, error) {
	ve, ok := m.Engine.(volumeEngine)
	if !ok {
		return nil, &runtime.UnsupportedError{Feature: "docker:dind", Engine: "this container runtime",
			Reason: "it cannot run a nested Docker daemon", Remedy: "Run moat against a Docker engine to use docker:dind."}
	}
	return ve, nil
}

func (dockerDind) apply(ctx context.Context, m *Manager, r *state.Run, p *plan, spec *runtime.ContainerSpec, undo *cleanupStack) error {
	vol, err := m.dindVolume(ctx, r, p, undo)
	if err != nil {
		return err
	}
	logDir := m.Store.Path(r.ID, dindLogSubdir)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("creating the inner daemon's log directory: %w", err)
	}
	timeout := p.cfg.Docker.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultDindReadyTimeout
	}
	spec.CapAdd = union(spec.CapAdd, dindCapabilities)
	spec.SecurityOpt = append(spec.SecurityOpt, dindSecurityOpt...)
	spec.UnmaskSystemPaths = true
	// Images the agent runs inside may rely on setuid binaries (su, ping).
	spec.NoNewPrivileges = false
	spec.Volumes = append(spec.Volumes, runtime.VolumeMount{Name: vol, Target: dindDataDir})
	spec.Mounts = append(spec.Mounts, runtime.Mount{Source: logDir, Target: dindLogDir})
	spec.Env = append(spec.Env, "MOAT_DIND=1",
		"MOAT_DIND_TIMEOUT="+strconv.Itoa(int(timeout.Seconds())),
		"MOAT_DIND_LOG="+dindLogDir+"/"+dindLogFile,
		"MOAT_DIND_ARGS="+dindArgs(p.cfg.Docker.InsecureRegistries))
	r.Privileges = append(r.Privileges, state.Privilege{
		What:   "capabilities SYS_ADMIN, NET_ADMIN and Docker's defaults; seccomp, AppArmor and /proc, /sys masks lifted",
		Reason: "docker:dind",
		Effect: "root in the container (the inner daemon, and containers the agent starts with it) has broad power over the container; " +
			"a kernel bug or a cgroup escape would reach the host",
	})
	m.warnf("docker:dind runs a Docker daemon inside this run with SYS_ADMIN and NET_ADMIN (not --privileged);\n" +
		"containers the agent starts are isolated from the host's engine but not a security boundary against the kernel.")
	return nil
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
// under an approved sandbox (its digest).
func DindCacheVolume(workspace, digest string) string {
	return cacheVolumeName("moat-dind-cache-", workspace, digest)
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
