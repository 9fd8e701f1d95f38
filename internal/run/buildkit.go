package run

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/ociwrap"
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

// The sidecar's image is the user's plus a copy of moat's own binary
// (image.EnsureHelper; nothing of the host is mounted), which starts
// buildkitd, as root of a user namespace whose root
// is the agent's user on the host (moat userns-run, as for docker:dind's
// inner daemon, but in the run's network namespace: buildkitd listens on
// the run's loopback and build steps use the run's network, as before).
const (
	buildkitHelper    = "/usr/local/lib/moat-buildkit/moat"
	buildkitConfigDoc = "/usr/local/lib/moat-buildkit/buildkitd.toml"
	buildkitRunDir    = "/run/buildkit"
	buildkitSetupDir  = "/run/moat-userns"
)

// buildkitPrivileges describes the sidecar for the run's record and audit
// log.
const buildkitPrivileges = "capabilities CHOWN, SETUID, SETGID, SETPCAP and SYS_ADMIN for moat's helper, which starts buildkitd " +
	"as root of a user namespace that is the agent's user on the host and then holds none; a seccomp profile; Docker's /proc and /sys masks; " +
	"shares the agent's network and PID namespaces (no network of its own); no host socket, file or directory"

// imagePuller is an engine that can pull an image it lacks.
type imagePuller interface {
	PullImage(ctx context.Context, ref string) error
}

// buildkitSidecar gives a docker:dind run a BuildKit daemon in its own
// container; docker.buildkit: false turns it off.
type buildkitSidecar struct {
	phases
	prepared preparedSidecar // the sidecar created alongside the agent's start
}

// envBuildkitPort is the variable the BuildKit sidecar sets for moat-init.
var envBuildkitPort = initVar{name: "MOAT_BUILDKIT_PORT", meaning: "the loopback port the BuildKit sidecar answers on: moat-init waits for it and registers it with buildx"}

func (*buildkitSidecar) initContract() initContract {
	return initContract{steps: []string{"wait_buildkit"}, env: []initVar{envBuildkitPort},
		sidecar: []initVar{envBuildCA, envOCIWrapCA, envOCIWrapProxy}}
}

// BuildkitImageError reports a sidecar image the engine does not have and
// cannot pull.
type BuildkitImageError struct {
	Image string
	Err   error
	// Provide is the engine's own way to put the image in it ("" if it
	// has none to suggest).
	Provide string
}

func (e *BuildkitImageError) Error() string {
	return fmt.Sprintf("the BuildKit sidecar's image %s is not in the engine and could not be pulled: %v", e.Image, e.Err)
}
func (e *BuildkitImageError) Unwrap() error { return e.Err }
func (e *BuildkitImageError) Hint() string {
	provide := "Provide it"
	if e.Provide != "" {
		provide += " (" + e.Provide + ")"
	}
	return provide + ",\n" +
		"name another image with buildkit_image in ~/.moat/config.yaml (pinned: NAME@sha256:DIGEST or an image ID),\n" +
		"or turn the sidecar off with docker: {buildkit: false}."
}

// imageProvider is an engine that can say how a user puts an image in it
// (the Docker adapter's: 'docker pull', 'docker load').
type imageProvider interface {
	ProvideImageRemedy(ref string) string
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

// fileCopier puts files into a container before it starts.
type fileCopier interface {
	CopyFilesTo(ctx context.Context, id string, files []runtime.CopyFile) error
}

func (*buildkitSidecar) check(ctx context.Context, m *Manager, p *plan) error {
	if _, ok := m.Engine.(fileCopier); !ok {
		return &runtime.UnsupportedError{Feature: "the BuildKit sidecar", Engine: "this container runtime",
			Reason: "it cannot copy files into a container", Remedy: "Turn the sidecar off with docker: {buildkit: false}."}
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
			e := &BuildkitImageError{Image: img, Err: err}
			if ip, ok := m.Engine.(imageProvider); ok {
				e.Provide = ip.ProvideImageRemedy(img)
			}
			return e
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
	// The sidecar runs that image plus moat's helper, built in once per
	// (image, moat binary): copying the binary into every run's sidecar
	// competed with the agent's start.
	bin, err := m.proxyBinary()
	if err != nil {
		return err
	}
	helper, err := image.EnsureHelper(ctx, m.Engine, image.HelperPlan{BaseID: id, Path: buildkitHelper, Moat: bin, MoatSum: m.cachedFileSum, Runtime: buildkitRuntime},
		image.Options{
			Labels: map[string]string{labels.Managed: "true", labels.Role: labels.RoleHelperImage, labels.Version: m.Version},
			Pins:   state.Pins{Store: m.Store},
			Lock:   m.Store.LockBuild,
		})
	if err != nil {
		return fmt.Errorf("adding moat's helper to the BuildKit image %s: %w", img, err)
	}
	p.buildkitImageID, p.buildkitBaseID = helper.ID, id
	return nil
}

// shape points the agent at the sidecar and creates the sidecar's state
// volume; the sidecar itself is created once the agent's container exists
// (startSidecars) and starts once it runs (afterStart).
func (*buildkitSidecar) shape(ctx context.Context, m *Manager, r *state.Run, p *plan, _ image.Result, spec *runtime.ContainerSpec, undo *cleanupStack) error {
	vol, err := m.buildkitVolume(ctx, r, p, undo)
	if err != nil {
		return err
	}
	p.buildkitVolume = vol
	spec.ExtraHosts = append(spec.ExtraHosts, buildkitHost+":127.0.0.1")
	spec.Env = append(spec.Env, "BUILDKIT_HOST=tcp://"+buildkitHost+":"+strconv.Itoa(buildkitPort),
		envBuildkitPort.is(strconv.Itoa(buildkitPort)))
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
// under an approved sandbox (its digest). "ns": the state of a buildkitd in
// a user namespace; a cache an older moat left (owned by host root,
// unreadable to the namespaced daemon) is not reused, and 'moat clean
// --caches' removes it.
func BuildkitCacheVolume(workspace, digest string) string {
	return cacheVolumeName("moat-buildkit-cache-ns-", workspace, digest)
}

// buildkitSpec describes the sidecar: the BuildKit image's daemon, started
// through the copy of moat's binary (buildkitFiles), in the network and PID
// namespaces of the agent's container (agentID), so it ends with the agent and the agent reaches it on
// loopback. The helper gives the daemon its state volume and run
// directory, mounts a fresh proc and sysfs for it in a private mount
// namespace, becomes the agent's user with only CAP_SETUID and CAP_SETGID,
// maps a user namespace (0 is that user, 1..65535 are host ids from
// 100000), drops every capability and sets no_new_privs, and starts
// buildkitd as root of the namespace.
func (m *Manager) buildkitSpec(r *state.Run, p *plan, agentID string) (runtime.ContainerSpec, error) {
	env := []string{"XDG_RUNTIME_DIR=" + buildkitRunDir}
	cmd := []string{"buildkitd", "--addr", "tcp://127.0.0.1:" + strconv.Itoa(buildkitPort),
		"--root", buildkitStateDir, "--oci-worker-net=host"}
	var files []string
	if p.egress != nil && p.egress.token != "" {
		url := fmt.Sprintf("http://%s:%s@127.0.0.1:%d", proxyUser, p.egress.token, proxyPort)
		env = append(env, "HTTP_PROXY="+url, "HTTPS_PROXY="+url, "http_proxy="+url, "https_proxy="+url,
			"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1")
		// The proxy opens every TLS connection: the daemon (its pulls)
		// and the build steps must trust the run's CA. moat's helper
		// writes it into the container from the environment (nothing of
		// the host's is mounted here); the daemon's Go client adds
		// SSL_CERT_FILE to the image's roots (their directory is still
		// read), and each step gets it, with the proxy settings, from
		// moat's wrapper of runc in the helper image (internal/ociwrap).
		ca, err := os.ReadFile(filepath.Join(m.caDir(), "ca.pem"))
		if err != nil {
			return runtime.ContainerSpec{}, fmt.Errorf("reading the proxy CA for the BuildKit sidecar: %w", err)
		}
		files = append(files, "--write-env", buildkitCAPath+"="+envBuildCA.name)
		env = append(env, envBuildCA.is(string(ca)), "SSL_CERT_FILE="+buildkitCAPath,
			envOCIWrapCA.is(buildkitCAPath), envOCIWrapProxy.is(url))
		cmd = append(cmd, "--oci-worker-binary="+path.Join(path.Dir(buildkitHelper), image.RuntimeName))
	}
	if len(p.cfg.Docker.InsecureRegistries) > 0 {
		cmd = append(cmd, "--config", buildkitConfigDoc)
	}
	secOpt, err := dindSecurityOpt()
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	return runtime.ContainerSpec{
		Name: "moat-" + r.ID + "-buildkit", Image: p.buildkitImageID,
		Entrypoint: append([]string{buildkitHelper, "userns-run", "--uid", strconv.Itoa(p.uid), "--gid", strconv.Itoa(p.gid),
			"--sub-start", strconv.Itoa(dindSubStart), "--sub-count", strconv.Itoa(dindSubCount),
			"--setup", buildkitSetupDir, "--own", buildkitStateDir, "--own", buildkitRunDir}, append(files, "--")...),
		// The helper starts as the container's root whatever the
		// image's USER says (a rootless BuildKit image's, say).
		User:    "0:0",
		Cmd:     cmd,
		Env:     env,
		Labels:  m.runLabels(r, labels.RoleBuildkit),
		Volumes: []runtime.VolumeMount{{Name: p.buildkitVolume, Target: buildkitStateDir}},
		CapDrop: []string{"ALL"}, CapAdd: buildkitCapabilities, SecurityOpt: secOpt,
		// Not auto-removed: a daemon that dies keeps its output for the
		// error, and finish saves it before removing the sidecar.
		Join: &runtime.Join{Container: agentID, PID: true},
		// The agent's limits, in its own cgroup.
		Memory: p.limits.Memory, NanoCPUs: p.limits.NanoCPUs, PidsLimit: p.limits.Pids,
	}, nil
}

// buildkitCAPath is where the BuildKit sidecar's helper writes the run's
// proxy CA, in the daemon's run directory.
const buildkitCAPath = buildkitRunDir + "/moat-proxy-ca.pem"

// buildkitRuntime is the runtime buildkitd runs for each build step, put
// in the helper image beside moat's binary: moat's wrapper of runc, handing
// over to the image's runc (buildkit-runc in BuildKit's own images).
var buildkitRuntime = []byte("#!/bin/sh\n" + ociwrap.EnvRunc + "=$(command -v buildkit-runc || command -v runc) exec " +
	buildkitHelper + " oci-runtime \"$@\"\n")

// The BuildKit sidecar's variables, read by moat's helper and wrapper in
// it (not by moat-init).
var (
	envBuildCA      = initVar{name: "MOAT_BUILD_CA", meaning: "the run's proxy CA (PEM), which moat's helper writes into the BuildKit sidecar"}
	envOCIWrapCA    = initVar{name: ociwrap.EnvCA, meaning: "the CA file build steps trust, for moat's wrapper of runc"}
	envOCIWrapProxy = initVar{name: ociwrap.EnvProxy, meaning: "the proxy URL build steps get, for moat's wrapper of runc"}
)

// buildkitFiles are what moat copies into the sidecar before it starts:
// the daemon's configuration, if any (the helper is in the image).
func buildkitFiles(p *plan) []runtime.CopyFile {
	if regs := p.cfg.Docker.InsecureRegistries; len(regs) > 0 {
		return []runtime.CopyFile{{Path: buildkitConfigDoc, Mode: 0o644, Data: buildkitConfig(regs)}}
	}
	return nil
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

// preparedSidecar is a sidecar container created, with its configuration
// copied in, while the agent's container starts.
type preparedSidecar struct {
	spec  runtime.ContainerSpec
	id    string
	start time.Time // when it was created: ready_after_ms counts from there
}

// startSidecars creates the BuildKit sidecar and copies its configuration
// into it as soon as the agent's container exists, overlapping the agent's
// start. The sidecar can only start once the agent's container runs
// (afterStart).
func (b *buildkitSidecar) startSidecars(ctx context.Context, m *Manager, r *state.Run, p *plan, agent *agentContainer, undo *cleanupStack) <-chan error {
	done := make(chan error, 1)
	go func() {
		agentID, ok := agent.wait()
		if !ok {
			done <- nil // the run failed before: nothing to prepare
			return
		}
		spec, err := m.buildkitSpec(r, p, agentID)
		if err != nil {
			done <- err
			return
		}
		id, err := m.Engine.CreateContainer(ctx, spec)
		if err != nil {
			done <- fmt.Errorf("creating the BuildKit sidecar: %w", err)
			return
		}
		undo.push(func(c context.Context) { m.Engine.RemoveContainer(c, id) })
		b.prepared = preparedSidecar{spec: spec, id: id, start: time.Now()}
		if files := buildkitFiles(p); len(files) > 0 {
			if err := m.Engine.(fileCopier).CopyFilesTo(ctx, id, files); err != nil {
				done <- fmt.Errorf("copying the BuildKit daemon's configuration into its sidecar: %w", err)
				return
			}
		}
		done <- nil
	}()
	return done
}

// afterStart starts the sidecar, prepared while the agent's container
// started, and waits until the daemon lists its workers.
func (b *buildkitSidecar) afterStart(ctx context.Context, m *Manager, r *state.Run, p *plan, _ *cleanupStack) error {
	spec, id, start := b.prepared.spec, b.prepared.id, b.prepared.start
	// The sidecar's privileges are the run's, not the agent container's:
	// recorded once it exists, after the agent's container.created.
	r.Privileges = append(r.Privileges, state.Privilege{
		What:   "BuildKit sidecar: " + buildkitPrivileges,
		Reason: "docker:dind (BuildKit)",
		Effect: "buildkitd and the build steps the agent asks for run as root of a user namespace that is the agent's user on the host; " +
			"they are not a boundary against a kernel bug in user namespaces",
	})
	// No sidecar for a run another moat process has finished meanwhile:
	// nothing would remove it.
	if finished, err := m.saveUnlessFinished(r); err != nil || finished {
		return cmp.Or(err, fmt.Errorf("run %s was finished by another moat process while it started", r.ID))
	}
	m.record(r, audit.KindSidecarCreated, map[string]string{
		"role": labels.RoleBuildkit, "container_id": id, "name": spec.Name, "image": spec.Image, "buildkit_image": p.buildkitBaseID,
		"privileges": buildkitPrivileges, "cap_add": strings.Join(spec.CapAdd, ","), "security_opt": strings.Join(spec.SecurityOpt, ","),
		"elevation_reason": "docker:dind (BuildKit)",
	}, false)
	ready, detach, err := m.watchBuildkit(ctx, id)
	if err != nil {
		return err
	}
	defer detach()
	if err := m.Engine.StartContainer(ctx, id); err != nil {
		return fmt.Errorf("starting the BuildKit sidecar: %w", err)
	}
	// At least the default: a short docker.ready_timeout is for the inner
	// daemon, and the sidecar starts on a machine busy starting it. A run
	// whose daemon fails ends meanwhile, and its own error is reported.
	timeout := max(p.cfg.Docker.ReadyTimeout, buildkitReadyFloor)
	if err := m.waitBuildkit(ctx, id, ready, timeout); err != nil {
		return err
	}
	m.record(r, audit.KindSidecarReady, map[string]string{"role": labels.RoleBuildkit, "container_id": id,
		"ready_after_ms": strconv.FormatInt(time.Since(start).Milliseconds(), 10)}, false)
	return nil
}

// finish stops the sidecar, kept until now for its output, saves that
// output with the run and removes it.
func (*buildkitSidecar) finish(ctx context.Context, m *Manager, r *state.Run, sidecars *runSidecars) {
	m.removeSidecars(ctx, r, sidecars, labels.RoleBuildkit, func(sc state.Sidecar, id string) (string, error) {
		err := m.Engine.StopContainer(ctx, id, proxyStopGrace)
		m.saveSidecarLog(ctx, r, sc, id)
		if err == nil || errors.Is(err, runtime.ErrNotFound) {
			err = m.removeContainer(ctx, id)
		}
		return "removed by moat", err
	})
}

// buildkitReadyLine is what buildkitd logs once it has its workers and
// listens on its address: from then on a client's connection is served.
var buildkitReadyLine = "running server on 127.0.0.1:" + strconv.Itoa(buildkitPort)

// watchBuildkit attaches to the sidecar's output before it starts, so
// that no line is missed, and returns what sees the daemon's ready line.
func (m *Manager) watchBuildkit(ctx context.Context, id string) (*readyWatcher, func(), error) {
	stream, err := m.Engine.AttachContainer(ctx, id, runtime.AttachOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("attaching to the BuildKit sidecar: %w", err)
	}
	ready := newReadyWatcher(buildkitReadyLine)
	go func() {
		stream.CopyOutput(ready, ready)
		ready.closeOutput()
	}()
	return ready, func() { stream.Close() }, nil
}

// waitBuildkit waits until the daemon says it serves, the sidecar ends,
// or timeout passes.
func (m *Manager) waitBuildkit(ctx context.Context, id string, ready *readyWatcher, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ready.done:
	case <-timer.C:
		return &BuildkitError{Reason: fmt.Sprintf("no answer within %s (%s)", timeout, lastLine(ready.tail())), Log: m.sidecarLogTail(ctx, id)}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if !ready.ok {
		return &BuildkitError{Reason: "it exited", Log: m.sidecarLogTail(ctx, id)}
	}
	return nil
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
