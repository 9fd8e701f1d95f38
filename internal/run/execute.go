package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// Result is how a run ended, or, for a detached run, that it started.
type Result struct {
	Run      *state.Run
	ExitCode int  // the command's exit code (attached runs)
	Started  bool // the command started: ExitCode is the command's own
	// Detached: the user detached from the attached run (the detach
	// keys), which goes on; it is finished later, as a detached run is.
	Detached bool
}

// InterruptedError reports that the user stopped an attached run (Ctrl-C,
// SIGTERM); Cause is the context's cause.
type InterruptedError struct{ Cause error }

func (e *InterruptedError) Error() string { return "run interrupted" }
func (e *InterruptedError) Unwrap() error { return e.Cause }

// Run creates a run and, unless detached, attaches to it and waits for the
// command to end. Every failure before the command starts leaves nothing
// behind.
func (m *Manager) Run(ctx context.Context, opts Options) (Result, error) {
	p, err := m.resolve(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	img, err := m.ensureImage(ctx, p, opts.Rebuild)
	if err != nil {
		return Result{}, err
	}
	var undo cleanupStack
	defer undo.unwind(ctx)
	r, sidecars, err := m.createRun(ctx, p, img, opts, &undo)
	if err != nil {
		return Result{}, err
	}
	// Every way out waits for the features' sidecars first (before the
	// undo work runs): they push their own undo.
	defer sidecars.wait()
	// Once the agent's container runs: the sidecars must be ready, and
	// the features' after-start work (sidecars that join the agent's
	// namespaces) runs.
	afterStart := func() error { return m.afterStart(ctx, r, p, sidecars, &undo) }
	if opts.Detach {
		if err := m.start(ctx, r); err != nil {
			return Result{Run: r}, err
		}
		err := afterStart()
		if err != nil && !m.commandEnded(ctx, r) {
			return Result{Run: r}, err
		}
		undo.release()
		if err == nil && opts.Started != nil {
			opts.Started(r)
		}
		return Result{Run: r, Started: true}, nil
	}
	res, err := m.attachAndWait(ctx, r, opts, afterStart)
	if res.Started {
		undo.release() // the run is real now: finish owns its container
	}
	return res, err
}

func (m *Manager) ensureImage(ctx context.Context, p *plan, rebuild bool) (image.Result, error) {
	base, err := m.ensureBase(ctx, p, rebuild)
	if err != nil {
		return image.Result{}, err
	}
	if p.base != nil {
		// The proxy runs on config.yaml's base, never on agent.yaml's.
		if p.proxyBaseID, err = image.BaseID(ctx, m.Engine, m.baseImage(), state.Pins{Store: m.Store}); err != nil {
			return image.Result{}, err
		}
	}
	ip := image.Plan{Base: base, Deps: p.deps, Sources: m.Mirrors}
	if image.NeedsMoat(p.deps) {
		bin, err := m.proxyBinary()
		if err != nil {
			return image.Result{}, err
		}
		ip.Moat, ip.MoatSum = bin, m.cachedFileSum
	}
	res, err := image.Ensure(ctx, m.Engine, ip, image.Options{
		Rebuild: rebuild,
		Labels:  map[string]string{labels.Managed: "true", labels.Role: labels.RoleImage, labels.Version: m.Version},
		OnEvent: m.OnBuild,
		Pins:    state.Pins{Store: m.Store},
		Lock:    m.Store.LockBuild,
	})
	m.keepFailedBuild(err)
	return res, err
}

// keepFailedBuild saves the Dockerfile of a failed build of moat's in the
// moat home and has the error say where.
func (m *Manager) keepFailedBuild(err error) {
	var be *image.BuildError
	if !errors.As(err, &be) || be.Dockerfile == nil {
		return
	}
	path, kerr := m.Store.KeepFailedBuild(be.Tag, be.Dockerfile)
	if kerr != nil {
		m.warnf("keeping the Dockerfile of the failed build: %v", kerr)
		return
	}
	be.KeptAt = path
}

// createRun writes the run record and creates its containers. The
// features' sidecars are starting when it returns (the proxy's, created
// and started alongside the agent's container; the BuildKit sidecar's,
// created once the agent's container exists): the launch reports once
// they are ready or failed. The agent's container may start meanwhile;
// moat-init holds the command back until the proxy accepts connections.
func (m *Manager) createRun(ctx context.Context, p *plan, img image.Result, opts Options, undo *cleanupStack) (*state.Run, *launch, error) {
	r := &state.Run{
		ID: state.NewID(), Name: p.name, Workspace: p.workspace, Command: p.command,
		Image: img.Tag, ImageHash: img.Hash, Deps: depKeys(p), Status: state.Created,
		Detached: opts.Detach, Keep: opts.Keep, TTY: opts.TTY, Interactive: opts.Interactive, CreatedAt: m.now(), MoatVersion: m.Version,
		Policy: string(p.egress.mode()), Grants: p.egress.grantNames(), Limits: stateLimits(p.limits),
		Ports: p.ports,
	}
	if err := m.claimName(ctx, r, p.randomName); err != nil {
		return nil, nil, err
	}
	undo.push(func(context.Context) { m.Store.Delete(r.ID) })
	m.record(r, audit.KindRunCreated, runCreatedEvent(r, p.cfg.Digest()), true)
	if err := m.writeRunFile(r, state.DockerfileFile, img.Dockerfile); err != nil {
		return nil, nil, fmt.Errorf("saving the Dockerfile: %w", err)
	}
	spec := m.containerSpec(r, p, opts)
	applyLimits(&spec, p.limits)
	spec.Image = img.ID // what Ensure checked, not whatever the tag names now
	for _, f := range p.features {
		if err := f.shape(ctx, m, r, p, img, &spec, undo); err != nil {
			return nil, nil, err
		}
	}
	spec.Cmd = initArgs(p.env, p.command)
	sidecars := m.startSidecars(ctx, r, p, undo)
	id, err := m.Engine.CreateContainer(ctx, spec)
	if err != nil {
		sidecars.wait()
		return nil, nil, fmt.Errorf("creating the container: %w", err)
	}
	undo.push(func(c context.Context) { m.Engine.RemoveContainer(c, id) })
	r.ContainerID = id
	m.record(r, audit.KindContainerCreated, containerCreatedEvent(r, spec), false)
	sidecars.agent.created(id)
	if err := m.Store.Save(r); err != nil {
		sidecars.wait()
		return nil, nil, err
	}
	return r, sidecars, nil
}

// claimName creates the run's record if its name is still free, under the
// store lock, so that two concurrent runs cannot take the same name. A
// name moat drew (random) that another run took since it was checked is
// drawn again: runs started together must not fail over a name the user
// never chose.
func (m *Manager) claimName(ctx context.Context, r *state.Run, random bool) error {
	unlock, err := m.Store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.Store.IndexNames(); err != nil {
		return err
	}
	if r.Name, err = m.freeName(ctx, r.Name, random); err != nil {
		return err
	}
	if err := m.Store.Create(r); err != nil {
		return err
	}
	if err := m.Store.TakeName(r.Name, r.ID); err != nil {
		m.Store.Delete(r.ID)
		return err
	}
	return nil
}

func depKeys(p *plan) []string {
	keys := make([]string, 0, len(p.deps))
	for _, d := range p.deps {
		keys = append(keys, d.Key())
	}
	return keys
}

// containerSpec is the agent's container without its command: Env holds
// moat's own variables only (see initArgs for the agent's).
func (m *Manager) containerSpec(r *state.Run, p *plan, opts Options) runtime.ContainerSpec {
	env := []string{envUID.is(strconv.Itoa(p.uid)), envGID.is(strconv.Itoa(p.gid)), envRunID.is(r.ID), envRunName.is(r.Name)}
	if opts.TTY {
		env = append(env, "TERM="+termOrDefault())
	}
	lbl := m.runLabels(r, labels.RoleAgent)
	lbl[labels.Workspace] = p.workspace
	return runtime.ContainerSpec{
		Name: "moat-" + r.ID, Image: r.Image, Env: env, WorkingDir: WorkspaceTarget,
		Mounts: p.mounts, Labels: lbl, TTY: opts.TTY, OpenStdin: opts.Interactive, Init: true,
		CapDrop: []string{"ALL"}, CapAdd: initCapabilities, NoNewPrivileges: true,
	}
}

// initCapabilities are all the container keeps: what root in the container
// needs to set the run up. moat-init uses CHOWN, SETUID, SETGID and SETPCAP
// to add the agent's user and drop to it; the engine's init (PID 1) needs
// KILL to forward signals to the agent, which runs as another user. The
// agent itself runs with none: moat-init clears them before it executes
// the command.
var initCapabilities = []string{"CHOWN", "KILL", "SETGID", "SETPCAP", "SETUID"}

func termOrDefault() string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return "xterm"
}

// start starts the container and records that the command runs.
func (m *Manager) start(ctx context.Context, r *state.Run) error {
	if err := m.Engine.StartContainer(ctx, r.ContainerID); err != nil {
		return fmt.Errorf("starting the container: %w", err)
	}
	r.Status, r.StartedAt = state.Running, m.now()
	m.record(r, audit.KindContainerStarted, map[string]string{"container_id": r.ContainerID}, true)
	// Under the run's lock: another moat process may be marking it
	// running from an older copy of the record (markRunning).
	_, err := m.saveUnlessFinished(r)
	return err
}

// saveUnlessFinished saves r, an active run's record as this process
// holds it, under the run's lock, unless another moat process ('moat
// stop', a listing that found the container gone) has finished the run
// meanwhile: then that record stands and is taken into r. A finished run
// saved back as running would be reported lost later, its real end
// forgotten. It reports whether that happened.
func (m *Manager) saveUnlessFinished(r *state.Run) (finished bool, err error) {
	unlock, err := m.Store.LockRun(r.ID)
	if err != nil {
		return false, err
	}
	defer unlock()
	if m.finishedElsewhere(r) {
		return true, nil
	}
	return false, m.Store.Save(r)
}

// attachAndWait streams an attached run's output, waits for its command and
// finishes the run: logs kept, container removed unless --keep.
func (m *Manager) attachAndWait(ctx context.Context, r *state.Run, opts Options, afterStart func() error) (Result, error) {
	stdout, stderr := orDiscard(opts.Stdout), orDiscard(opts.Stderr)
	stream, err := m.Engine.AttachContainer(ctx, r.ContainerID, runtime.AttachOptions{Stdin: opts.Interactive, TTY: opts.TTY})
	if err != nil {
		return Result{Run: r}, fmt.Errorf("attaching to the container: %w", err)
	}
	defer stream.Close()
	outDone := make(chan error, 1)
	go func() { outDone <- stream.CopyOutput(stdout, stderr) }()
	detached := make(chan struct{})
	if opts.Interactive && opts.Stdin != nil {
		go func() {
			if forwardStdin(stream, opts.Stdin, opts.Detached) {
				close(detached)
			}
		}()
	}
	if opts.OnAttach != nil {
		opts.OnAttach()
	}
	if err := m.start(ctx, r); err != nil {
		return Result{Run: r}, err
	}
	// A proxy or sidecar that fails leaves the command waiting (its
	// requests in the relay, moat-init for the sidecar): the run has not
	// really started, and undoing it removes everything.
	if err := afterStart(); err != nil {
		if ctx.Err() != nil { // interrupted while the sidecars came up: stop it like a running run
			return m.interrupt(ctx, r, opts, stream, outDone)
		}
		if !m.commandEnded(ctx, r) {
			return Result{Run: r}, err
		}
		// moat-init failed (its daemon did not start) before the sidecars
		// could join the container: the run ends with its own error.
	} else if opts.Started != nil {
		opts.Started(r)
	}
	if opts.TTY {
		go m.followResizes(ctx, r.ContainerID, opts)
	}
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	type waited struct {
		code int
		err  error
	}
	waitDone := make(chan waited, 1)
	go func() {
		code, err := m.Engine.WaitContainer(waitCtx, r.ContainerID)
		waitDone <- waited{code, err}
	}()
	var code int
	var waitErr error
	select {
	case <-detached:
		return m.detachFrom(ctx, r)
	case w := <-waitDone:
		code, waitErr = w.code, w.err
	}
	if waitErr != nil && ctx.Err() != nil {
		return m.interrupt(ctx, r, opts, stream, outDone)
	}
	m.waitOutput(outDone)
	if waitErr != nil {
		m.finish(ctx, r, state.Failed, code, waitErr)
		return Result{Run: r, Started: true, ExitCode: code}, fmt.Errorf("waiting for the container: %w", waitErr)
	}
	m.finish(ctx, r, state.Exited, code, nil)
	return Result{Run: r, Started: true, ExitCode: code}, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// forwardStdin copies in to the command's stdin until in ends, then
// closes it, unless in ended because the user detached (detached, if
// set, says so): the command keeps its stdin open then. It reports
// whether the user detached.
func forwardStdin(stream runtime.Stream, in io.Reader, detached func() bool) bool {
	buf := make([]byte, 32*1024)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := stream.Write(buf[:n]); werr != nil {
				return false
			}
		}
		if err != nil {
			if detached != nil && detached() {
				return true
			}
			stream.CloseWrite()
			return false
		}
	}
}

// detachFrom leaves an attached run going without moat: from now on it is
// a detached run, finished by 'moat stop' or when a listing finds it ended.
func (m *Manager) detachFrom(_ context.Context, r *state.Run) (Result, error) {
	r.Detached = true
	if _, err := m.saveUnlessFinished(r); err != nil {
		return Result{Run: r, Started: true}, err
	}
	return Result{Run: r, Started: true, Detached: true}, nil
}

func (m *Manager) followResizes(ctx context.Context, id string, opts Options) {
	resize := func() {
		if opts.TerminalSize == nil {
			return
		}
		if w, h := opts.TerminalSize(); w > 0 && h > 0 {
			m.Engine.ResizeTTY(ctx, id, uint(h), uint(w))
		}
	}
	resize()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-opts.Resized:
			if !ok {
				return
			}
			resize()
		}
	}
}

// waitOutput waits for the last output after the command ended, at most
// outputDrain. Its end is the normal path: a bound that expires says so.
func (m *Manager) waitOutput(done <-chan error) {
	select {
	case <-done:
	case <-afterDrain():
		m.warnf("the container's output did not end within %s of its command; what it wrote after that is only in 'moat logs'", outputDrain)
	}
}

// interrupt stops an attached run the user interrupted and finishes it.
func (m *Manager) interrupt(ctx context.Context, r *state.Run, opts Options, stream runtime.Stream, outDone <-chan error) (Result, error) {
	cctx, cancel := detached(ctx)
	defer cancel()
	grace := interruptGrace()
	if opts.Stopping != nil {
		opts.Stopping(r, grace)
	}
	code, err := m.stopContainer(cctx, r, grace, opts.Kill)
	if err != nil {
		m.warnf("%v", err)
	}
	stream.Close()
	m.waitOutput(outDone)
	m.finish(ctx, r, state.Stopped, code, nil)
	return Result{Run: r, Started: true, ExitCode: code}, &InterruptedError{Cause: context.Cause(ctx)}
}

// writeRunFile writes a new file in run r's directory, through no link.
func (m *Manager) writeRunFile(r *state.Run, name string, data []byte) error {
	f, err := m.Store.OpenFile(r.ID, name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeAgentContainer removes the run's container, which finish has
// checked is the run's own.
func (m *Manager) removeAgentContainer(ctx context.Context, r *state.Run) {
	if err := m.Engine.RemoveContainer(ctx, r.ContainerID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		m.warnf("removing container of run %s: %v", r.ID, err)
	}
}

// removeVolumes removes the run's volumes that are not caches.
func (m *Manager) removeVolumes(ctx context.Context, r *state.Run) {
	if !slices.ContainsFunc(r.Volumes, func(v state.Volume) bool { return !v.Keep }) {
		return
	}
	own, err := m.ownVolumes(ctx, r)
	if err != nil {
		m.warnf("finding the volumes of run %s: %v", r.ID, err)
		return
	}
	for _, v := range r.Volumes {
		if v.Keep {
			continue
		}
		if !own[v.Name] {
			m.warnf("%v", &NotOwnedError{Kind: "volume", ID: v.Name, RunID: r.ID, Why: "it does not carry the run's labels"})
			continue
		}
		if err := m.Engine.RemoveVolume(ctx, v.Name); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			m.warnf("removing volume %s of run %s: %v", v.Name, r.ID, err)
		}
	}
}

// commandEnded reports whether the run's container has already stopped,
// as when moat-init fails before the command starts.
func (m *Manager) commandEnded(ctx context.Context, r *state.Run) bool {
	info, err := m.Engine.InspectContainer(ctx, r.ContainerID)
	return err == nil && !info.Running
}

// finish records the end of a run, now, keeps its logs and removes its
// container unless the user asked to keep it.
func (m *Manager) finish(ctx context.Context, r *state.Run, status state.Status, code int, cause error) {
	m.finishAt(ctx, r, status, code, cause, time.Time{})
}

// finishAt is finish with the time the command ended, when the engine
// knows it (zero: now); it is saved with the rest, under the run's lock.
func (m *Manager) finishAt(ctx context.Context, r *state.Run, status state.Status, code int, cause error, ended time.Time) {
	if ended.IsZero() {
		ended = m.now()
	}
	unlock, err := m.Store.LockRun(r.ID)
	switch {
	case err == nil:
		defer unlock()
	case !errors.Is(err, fs.ErrNotExist):
		m.warnf("finishing run %s: %v", r.ID, err)
	}
	if done := m.finishedElsewhere(r); done {
		return
	}
	cctx, cancel := detached(ctx)
	defer cancel()
	r.SetExit(status, code, ended)
	if cause != nil {
		r.Error = cause.Error()
	}
	kind := audit.KindContainerExited
	if status == state.Stopped {
		kind = audit.KindContainerStopped
	}
	m.record(r, kind, map[string]string{"container_id": r.ContainerID, "exit_code": strconv.Itoa(code), "state": string(status), "error": r.Error}, true)
	// The container the record names must be the run's own before its
	// log is kept as the run's and it is removed.
	owned := m.ownContainer(cctx, r, r.ContainerID, labels.RoleAgent)
	if owned != nil && !errors.Is(owned, runtime.ErrNotFound) {
		m.warnf("%v", owned)
	}
	digest, err := newLogDigest(), owned
	if owned == nil {
		digest, err = m.captureLogs(cctx, r)
	}
	if owned == nil && err != nil && !errors.Is(err, runtime.ErrNotFound) {
		m.warnf("saving the logs of run %s: %v", r.ID, err)
	}
	m.record(r, audit.KindLogsSaved, digest.event(err), false)
	// The features' sidecars stop (the proxy writes its last events)
	// while the agent's container gives up what the features keep of it
	// (the inner daemon's log) and goes.
	var wg sync.WaitGroup
	wg.Go(func() { m.finishFeatures(cctx, r) })
	if owned == nil {
		m.salvageFeatures(cctx, r)
	}
	if !r.Keep && owned == nil {
		m.removeAgentContainer(cctx, r)
	}
	wg.Wait()
	if !r.Keep {
		m.removeVolumes(cctx, r) // after the sidecars, which may use them
	}
	if err := m.Store.Save(r); err != nil {
		m.warnf("saving run %s: %v", r.ID, err)
	}
	m.Store.ReleaseName(r.Name, r.ID)
	m.record(r, audit.KindRunFinished, map[string]string{"state": string(r.Status), "exit_code": strconv.Itoa(code)}, false)
	m.closeAudit(r)
}

// finishedElsewhere reports whether another moat process finished the run
// while this one waited for its lock (the attached CLI and a 'moat list'
// reconciling it at once), and if so takes that record into r.
func (m *Manager) finishedElsewhere(r *state.Run) bool {
	stored, err := m.Store.Load(r.ID)
	if err != nil || stored.Status.Active() {
		return false
	}
	*r = *stored
	return true
}
