package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// DefaultBuildkitImage is the BuildKit sidecar's image unless the user's
// config.yaml (buildkit_image, pinned by digest or image ID) names another:
// a release, whose image ID moat records in $MOAT_HOME/images.json when it
// first uses it and checks at every later run (a tag can be moved).
const DefaultBuildkitImage = "moby/buildkit:v0.34.2"

// Where the sidecar listens and keeps its state. It shares the agent's
// network namespace, so the agent reaches it on its own loopback, as
// "buildkit" (mapped to 127.0.0.1); moat checks it with the image's own
// BuildKit client, run in the sidecar through the engine. Its output is
// saved with the run when it goes.
const (
	buildkitPort     = 1234
	buildkitHost     = "buildkit"
	buildkitStateDir = "/var/lib/buildkit"
	buildkitLogFile  = "buildkitd.log"
)

// buildkitReadyFloor is the least time the sidecar gets to answer (a
// variable so that tests need not wait for it).
var buildkitReadyFloor = DefaultDindReadyTimeout

// buildkitProbeTimeout bounds one readiness probe.
const buildkitProbeTimeout = 5 * time.Second

// buildkitEntry is the sidecar's entrypoint, a shell script, so that any
// image of the daemon works as it is and nothing of moat's is mounted: it
// makes /sys and
// the cgroup mounts writable for the runc worker (the container has
// SYS_ADMIN for this), writes the daemon's configuration from the
// environment, and executes the daemon.
const buildkitEntry = `for d in /sys /sys/fs/cgroup /sys/fs/cgroup/*; do
	[ -d "$d" ] && { mount -o remount,rw,bind "$d" "$d" 2>/dev/null || mount -o remount,rw "$d" 2>/dev/null; }
done
if [ -n "$MOAT_BUILDKITD_TOML" ]; then mkdir -p /etc/buildkit && printf '%s' "$MOAT_BUILDKITD_TOML" >/etc/buildkit/buildkitd.toml; fi
exec "$@"`

// buildkitPrivileges describes the sidecar for the run's record and audit
// log.
const buildkitPrivileges = "capabilities SYS_ADMIN, NET_ADMIN and Docker's defaults; seccomp, AppArmor and /proc, /sys masks lifted; " +
	"shares the agent's network and PID namespaces (no network of its own); no host socket or host directory"

// imagePuller is an engine that can pull an image it lacks.
type imagePuller interface {
	PullImage(ctx context.Context, ref string) error
}

// sidecarStarter is a feature with a sidecar that joins the agent's
// namespaces, so it starts once the agent's container runs.
type sidecarStarter interface {
	startSidecar(ctx context.Context, m *Manager, r *state.Run, p *plan, undo *cleanupStack) error
}

// buildkitSidecar gives a docker:dind run a BuildKit daemon in its own
// container; docker.buildkit: false turns it off.
type buildkitSidecar struct{}

// BuildkitImageError reports a sidecar image the engine does not have and
// cannot pull.
type BuildkitImageError struct {
	Image string
	Err   error
}

func (e *BuildkitImageError) Error() string {
	return fmt.Sprintf("the BuildKit sidecar's image %s is not in the engine and could not be pulled: %v", e.Image, e.Err)
}
func (e *BuildkitImageError) Unwrap() error { return e.Err }
func (e *BuildkitImageError) Hint() string {
	return fmt.Sprintf("Provide it ('docker pull %s', or 'docker load -i FILE' where no registry is reachable),\n"+
		"name another image with buildkit_image in ~/.moat/config.yaml (pinned: NAME@sha256:DIGEST or an image ID),\n"+
		"or turn the sidecar off with docker: {buildkit: false}.", e.Image)
}

// BuildkitImageChangedError reports that the default sidecar image's tag
// now names another image than the one moat recorded.
type BuildkitImageChangedError struct{ Image, Was, Now string }

func (e *BuildkitImageChangedError) Error() string {
	return fmt.Sprintf("the BuildKit sidecar's image %s is now %s, not %s, the image moat used before: something re-tagged it", e.Image, e.Now, e.Was)
}

func (e *BuildkitImageChangedError) Hint() string {
	return fmt.Sprintf("If you replaced it yourself, pin it in ~/.moat/config.yaml:\n  buildkit_image: %s", e.Now)
}

// buildkitImage is the sidecar's image: the user's, or moat's default.
// agent.yaml cannot name one (the workspace is the agent's).
func (m *Manager) buildkitImage() string {
	if m.BuildkitImage != "" {
		return m.BuildkitImage
	}
	return DefaultBuildkitImage
}

// execEngine runs a command in a running container.
type execEngine interface {
	Exec(ctx context.Context, id string, cmd []string) (int, []byte, error)
}

func (buildkitSidecar) check(ctx context.Context, m *Manager, p *plan) error {
	if _, ok := m.Engine.(execEngine); !ok {
		return &runtime.UnsupportedError{Feature: "the BuildKit sidecar", Engine: "this container runtime",
			Reason: "it cannot run commands in a container", Remedy: "Turn the sidecar off with docker: {buildkit: false}."}
	}
	img := m.buildkitImage()
	id, err := m.Engine.ImageID(ctx, img)
	if errors.Is(err, runtime.ErrNotFound) {
		// Only after approval (resolve checks it first): a pinned image
		// is pulled by its digest.
		if pl, ok := m.Engine.(imagePuller); ok {
			if err = pl.PullImage(ctx, img); err == nil {
				id, err = m.Engine.ImageID(ctx, img)
			}
		}
		if err != nil {
			return &BuildkitImageError{Image: img, Err: err}
		}
	}
	if err != nil {
		return err
	}
	if !config.PinnedImage(img) {
		pins := state.Pins{Store: m.Store}
		was, ok := pins.Pinned(img)
		switch {
		case !ok:
			if err := pins.Pin(img, id); err != nil {
				return fmt.Errorf("recording the BuildKit image: %w", err)
			}
		case was != id:
			return &BuildkitImageChangedError{Image: img, Was: was, Now: id}
		}
	}
	p.buildkitImageID = id
	return nil
}

// apply points the agent at the sidecar and creates the sidecar's state
// volume; the sidecar itself starts after the agent (startSidecar).
func (buildkitSidecar) apply(ctx context.Context, m *Manager, r *state.Run, p *plan, spec *runtime.ContainerSpec, undo *cleanupStack) error {
	vol, err := m.buildkitVolume(ctx, r, p, undo)
	if err != nil {
		return err
	}
	p.buildkitVolume = vol
	spec.ExtraHosts = append(spec.ExtraHosts, buildkitHost+":127.0.0.1")
	spec.Env = append(spec.Env, "BUILDKIT_HOST=tcp://"+buildkitHost+":"+strconv.Itoa(buildkitPort),
		"MOAT_BUILDKIT_PORT="+strconv.Itoa(buildkitPort))
	for i, kv := range spec.Env {
		if k, v, _ := strings.Cut(kv, "="); k == "NO_PROXY" || k == "no_proxy" {
			spec.Env[i] = k + "=" + v + "," + buildkitHost
		}
	}
	r.Sidecars = append(r.Sidecars, state.Sidecar{Role: labels.RoleBuildkit, Name: "moat-" + r.ID + "-buildkit", Limits: stateLimits(p.limits)})
	return nil
}

// buildkitVolume creates the sidecar's state volume: one per run, or with
// docker.cache one per workspace that keeps the build cache between runs.
func (m *Manager) buildkitVolume(ctx context.Context, r *state.Run, p *plan, undo *cleanupStack) (string, error) {
	ve, err := dindEngine(m)
	if err != nil {
		return "", err
	}
	lbl := map[string]string{labels.Managed: "true", labels.Workspace: p.workspace, labels.Version: m.Version, labels.Home: m.homeID()}
	if p.cfg.Docker.Cache {
		name := BuildkitCacheVolume(p.workspace, p.sandboxDigest)
		if err := m.checkCacheFree(ctx, r, name); err != nil {
			return "", err
		}
		if err := ve.CreateVolume(ctx, name, m.cacheLabels(r, p, labels.RoleBuildkitCache)); err != nil {
			return "", fmt.Errorf("creating the BuildKit cache volume: %w", err)
		}
		r.Volumes = append(r.Volumes, m.cacheRecord(ctx, r, p, labels.RoleBuildkitCache, name))
		return name, nil
	}
	name := "moat-buildkit-" + r.ID
	lbl[labels.Role], lbl[labels.RunID], lbl[labels.RunName] = labels.RoleBuildkit, r.ID, r.Name
	if err := ve.CreateVolume(ctx, name, lbl); err != nil {
		return "", fmt.Errorf("creating the BuildKit volume: %w", err)
	}
	undo.push(func(c context.Context) { m.Engine.RemoveVolume(c, name) })
	r.Volumes = append(r.Volumes, state.Volume{Name: name})
	return name, nil
}

// BuildkitCacheVolume is the name of a workspace's BuildKit cache volume
// under an approved sandbox (its digest).
func BuildkitCacheVolume(workspace, digest string) string {
	return cacheVolumeName("moat-buildkit-cache-", workspace, digest)
}

// buildkitSpec describes the sidecar: the BuildKit image's daemon, started
// through moat's own binary (which makes the cgroup mounts writable for
// its runc worker), in the agent's network and PID namespaces, so it ends
// with the agent and the agent reaches it on loopback.
func (m *Manager) buildkitSpec(r *state.Run, p *plan) runtime.ContainerSpec {
	env := []string{}
	if p.egress != nil && p.egress.token != "" {
		url := fmt.Sprintf("http://%s:%s@127.0.0.1:%d", proxyUser, p.egress.token, proxyPort)
		env = append(env, "HTTP_PROXY="+url, "HTTPS_PROXY="+url, "http_proxy="+url, "https_proxy="+url,
			"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1")
	}
	if regs := p.cfg.Docker.InsecureRegistries; len(regs) > 0 {
		env = append(env, "MOAT_BUILDKITD_TOML="+string(buildkitConfig(regs)))
	}
	return runtime.ContainerSpec{
		Name: "moat-" + r.ID + "-buildkit", Image: p.buildkitImageID,
		Entrypoint: []string{"/bin/sh", "-c", buildkitEntry, "buildkit-entry"},
		Cmd: []string{"buildkitd", "--addr", "tcp://127.0.0.1:" + strconv.Itoa(buildkitPort),
			"--root", buildkitStateDir, "--oci-worker-net=host"},
		Env:     env,
		Labels:  m.runLabels(r, labels.RoleBuildkit),
		Volumes: []runtime.VolumeMount{{Name: p.buildkitVolume, Target: buildkitStateDir}},
		CapDrop: []string{"ALL"}, CapAdd: buildkitCapabilities, SecurityOpt: buildkitSecurityOpt, UnmaskSystemPaths: true,
		// Not auto-removed: a daemon that dies keeps its output for the
		// error, and finish saves it before removing the sidecar.
		Network: "container:" + r.ContainerID, PidMode: "container:" + r.ContainerID,
		// The agent's limits, in its own cgroup.
		Memory: p.limits.Memory, NanoCPUs: p.limits.NanoCPUs, PidsLimit: p.limits.Pids,
	}
}

// buildkitConfig is the daemon's configuration: the registries it may
// reach over plain HTTP.
func buildkitConfig(insecure []string) []byte {
	var b strings.Builder
	b.WriteString("# written by moat from agent.yaml's docker.insecure_registries\n")
	for _, r := range insecure {
		fmt.Fprintf(&b, "[registry.%q]\n  http = true\n  insecure = true\n", r)
	}
	return []byte(b.String())
}

// BuildkitError reports a sidecar that died or never became ready.
type BuildkitError struct {
	Reason string
	Log    string
}

func (e *BuildkitError) Error() string {
	msg := "the run's BuildKit sidecar did not become ready: " + e.Reason
	if e.Log != "" {
		msg += "; the last lines of its log:\n" + e.Log
	}
	return msg
}

func (e *BuildkitError) Hint() string {
	return "Check the sidecar's image, raise docker.ready_timeout, or turn the sidecar off with docker: {buildkit: false}."
}

// startSidecar creates and starts the BuildKit sidecar once the agent's
// container runs, and waits until the daemon lists its workers.
func (buildkitSidecar) startSidecar(ctx context.Context, m *Manager, r *state.Run, p *plan, undo *cleanupStack) error {
	spec := m.buildkitSpec(r, p)
	id, err := m.Engine.CreateContainer(ctx, spec)
	if err != nil {
		return fmt.Errorf("creating the BuildKit sidecar: %w", err)
	}
	undo.push(func(c context.Context) { m.Engine.RemoveContainer(c, id) })
	// The sidecar's privileges are the run's, not the agent container's:
	// recorded once it exists, after the agent's container.created.
	r.Privileges = append(r.Privileges, state.Privilege{
		What:   "BuildKit sidecar: " + buildkitPrivileges,
		Reason: "docker:dind (BuildKit)",
		Effect: "builds the agent asks for run as root with broad power over the sidecar's container; not a boundary against the kernel",
	})
	if err := m.Store.Save(r); err != nil {
		return err
	}
	m.record(r, audit.KindSidecarCreated, map[string]string{
		"role": labels.RoleBuildkit, "container_id": id, "name": spec.Name, "image": spec.Image,
		"privileges": buildkitPrivileges, "cap_add": strings.Join(spec.CapAdd, ","), "security_opt": strings.Join(spec.SecurityOpt, ","),
		"elevation_reason": "docker:dind (BuildKit)",
	}, false)
	if err := m.Engine.StartContainer(ctx, id); err != nil {
		return fmt.Errorf("starting the BuildKit sidecar: %w", err)
	}
	// At least the default: a short docker.ready_timeout is for the inner
	// daemon, and the sidecar starts on a machine busy starting it. A run
	// whose daemon fails ends meanwhile, and its own error is reported.
	timeout := max(p.cfg.Docker.ReadyTimeout, buildkitReadyFloor)
	start := time.Now()
	if err := m.waitBuildkit(ctx, id, timeout); err != nil {
		return err
	}
	m.record(r, audit.KindSidecarReady, map[string]string{"role": labels.RoleBuildkit, "container_id": id,
		"ready_after_ms": strconv.FormatInt(time.Since(start).Milliseconds(), 10)}, false)
	return nil
}

// waitBuildkit asks the daemon for its workers, with the image's own
// BuildKit client run in the sidecar through the engine, until it answers,
// the sidecar dies, or timeout passes.
func (m *Manager) waitBuildkit(ctx context.Context, id string, timeout time.Duration) error {
	ex := m.Engine.(execEngine)
	probe := []string{"buildctl", "--addr", "tcp://127.0.0.1:" + strconv.Itoa(buildkitPort), "debug", "workers"}
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, buildkitProbeTimeout)
		code, out, err := ex.Exec(pctx, id, probe)
		cancel()
		if err == nil && code == 0 && len(bytes.TrimSpace(out)) > 0 {
			return nil
		}
		last := strings.TrimSpace(string(out))
		if err != nil {
			last = err.Error()
		}
		info, ierr := m.Engine.InspectContainer(ctx, id)
		if errors.Is(ierr, runtime.ErrNotFound) || ierr == nil && !info.Running && info.State != "created" {
			return &BuildkitError{Reason: "it exited", Log: m.sidecarLogTail(ctx, id)}
		}
		if time.Now().After(deadline) {
			return &BuildkitError{Reason: fmt.Sprintf("no answer within %s (%s)", timeout, lastLine(last)), Log: m.sidecarLogTail(ctx, id)}
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sidecarLogTail returns the last lines of a sidecar's output, indented.
func (m *Manager) sidecarLogTail(ctx context.Context, id string) string {
	var out bytes.Buffer
	if err := m.Engine.ContainerLogs(ctx, id, runtime.LogOptions{Tail: "20"}, &out, &out); err != nil {
		return ""
	}
	lines := slices.DeleteFunc(strings.Split(out.String(), "\n"), func(l string) bool { return strings.TrimSpace(l) == "" })
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
