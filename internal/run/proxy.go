package run

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// proxyReadyTimeout bounds how long the proxy sidecar may take to listen.
const proxyReadyTimeout = 15 * time.Second

// proxyStopGrace is how long the proxy gets to drain and write its last
// audit events when the run ends.
const proxyStopGrace = 5 * time.Second

// proxyStart is the proxy sidecar to create and the configuration it is
// to receive on its stdin once started.
type proxyStart struct {
	spec runtime.ContainerSpec
	cfg  *egress.Config
}

// proxyPrivileges describes the sidecar for the run's record and audit
// log: it runs as the user, with no capabilities, on a read-only root.
const proxyPrivileges = "no capabilities, no-new-privileges, read-only root filesystem, runs as the invoking user; " +
	"host network namespace (the run's only way out), listening only on a unix socket shared with the agent " +
	"and on the run's published ports, whose connections it carries only to those ports on the agent's loopback"

// checkStaticLinux refuses a binary the sidecar could not execute: not a
// Linux ELF executable, or one that needs a dynamic loader the base image
// may lack.
func checkStaticLinux(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not a Linux executable: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("it is dynamically linked (build it with CGO_ENABLED=0)")
		}
	}
	return nil
}

// proxySpec describes the run's proxy sidecar: moat's own binary, mounted
// read-only into the base image, as the invoking user, with no
// capabilities, removed by the engine once it exits. Of the run it sees
// only its own directory (audit log, its log, socket); its CA and keys
// come on stdin.
func (m *Manager) proxySpec(r *state.Run, bin string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name: "moat-" + r.ID + "-proxy", Image: m.baseImage(), Cmd: []string{proxyBinaryTarget, "proxy", "serve"},
		Labels:     m.runLabels(r, labels.RoleProxy),
		MoatFiles:  []runtime.MoatFile{{Source: bin, Target: proxyBinaryTarget}},
		SharedDirs: []runtime.SharedDir{{Source: m.Store.Path(r.ID, state.ProxyDir), Target: proxyDirTarget}},
		OpenStdin:  true, User: strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid()),
		CapDrop: []string{"ALL"}, NoNewPrivileges: true, ReadOnlyRootfs: true, AutoRemove: true,
		// The run's only way out: it dials out for the agent, and takes
		// the agent's connections to its proxy port, listening on no
		// network address of its own but the run's published ports.
		Network: runtime.NetworkOutbound, ServesPort: proxyPort,
		Memory: proxyLimits.Memory, NanoCPUs: proxyLimits.NanoCPUs, PidsLimit: proxyLimits.Pids,
	}
}

// launchProxy creates and starts the proxy sidecar, hands it its
// configuration and waits until it listens. It runs alongside the creation
// and start of the agent's container.
func (m *Manager) launchProxy(ctx context.Context, r *state.Run, ps *proxyStart, undo *cleanupStack) error {
	id, err := m.Engine.CreateContainer(ctx, ps.spec)
	if err != nil {
		return fmt.Errorf("creating the proxy sidecar: %w", err)
	}
	undo.push(func(c context.Context) { m.Engine.RemoveContainer(c, id) })
	event := map[string]string{
		"role": labels.RoleProxy, "container_id": id, "name": ps.spec.Name, "image": ps.spec.Image,
		"privileges": proxyPrivileges, "policy": r.Policy, "grants": strings.Join(r.Grants, ","),
		"limits": limitsEvent(proxyLimits),
	}
	for _, mt := range ps.spec.Mounts {
		if mt.Target == proxySSHAgent {
			// The one host file the proxy reaches besides its directory.
			event["ssh_agent"] = mt.Source
		}
	}
	m.record(r, audit.KindSidecarCreated, event, false)
	return m.startProxy(ctx, r, id, ps.cfg)
}

// ProxyError reports a proxy sidecar that did not become ready.
type ProxyError struct {
	Reason string
	Log    string // the tail of its output
	// StatusCommand is the engine's command that shows whether it works
	// ("" if it has none).
	StatusCommand string
}

func (e *ProxyError) Error() string {
	msg := "the run's proxy sidecar did not start: " + e.Reason
	if e.Log != "" {
		msg += "\n" + e.Log
	}
	return msg
}

func (e *ProxyError) Hint() string {
	check := "Check the engine"
	if e.StatusCommand != "" {
		check += " ('" + e.StatusCommand + "')"
	}
	return check + " and that moat-sidecar beside moat (or moat itself) is a static Linux build from the same build as moat (make build makes both); rerun with the same command."
}

// statusCommander is an engine with a command that shows whether it
// works, for hints (the Docker adapter's: 'docker info').
type statusCommander interface {
	StatusCommand() string
}

// proxyError is a ProxyError with the engine's status command.
func (m *Manager) proxyError(reason, log string) *ProxyError {
	e := &ProxyError{Reason: reason, Log: log}
	if sc, ok := m.Engine.(statusCommander); ok {
		e.StatusCommand = sc.StatusCommand()
	}
	return e
}

// startProxy starts the sidecar, hands it its configuration on stdin and
// waits until it listens.
func (m *Manager) startProxy(ctx context.Context, r *state.Run, id string, pcfg *egress.Config) error {
	stream, err := m.Engine.AttachContainer(ctx, id, runtime.AttachOptions{Stdin: true})
	if err != nil {
		return fmt.Errorf("attaching to the proxy sidecar: %w", err)
	}
	defer stream.Close()
	ready := newReadyWatcher(egress.ReadyPrefix)
	go func() {
		stream.CopyOutput(ready, ready)
		ready.closeOutput()
	}()
	if err := m.Engine.StartContainer(ctx, id); err != nil {
		return fmt.Errorf("starting the proxy sidecar: %w", err)
	}
	cfg, err := json.Marshal(pcfg)
	if err != nil {
		return fmt.Errorf("encoding the proxy configuration: %w", err)
	}
	_, werr := stream.Write(cfg)
	clear(cfg)
	if werr == nil {
		werr = stream.CloseWrite()
	}
	if werr != nil {
		return m.proxyError("writing its configuration: "+werr.Error(), ready.tail())
	}
	timer := time.NewTimer(proxyReadyTimeout)
	defer timer.Stop()
	select {
	case <-ready.done:
	case <-timer.C:
		return m.proxyError("not listening after "+proxyReadyTimeout.String(), ready.tail())
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if !ready.ok {
		return m.proxyError("it exited", ready.tail())
	}
	m.record(r, audit.KindSidecarReady, map[string]string{"role": labels.RoleProxy, "container_id": id, "address": ready.addr}, false)
	return nil
}

// readyWatcher reads a sidecar's output until the line that says it
// serves (marker, then the rest of the line, kept as addr), keeping the
// last bytes for error messages: the sidecar's own word, an event, rather
// than probes at intervals.
type readyWatcher struct {
	marker []byte
	mu     sync.Mutex
	buf    bytes.Buffer
	once   sync.Once
	done   chan struct{}
	ok     bool
	addr   string
}

func newReadyWatcher(marker string) *readyWatcher {
	return &readyWatcher{marker: []byte(marker), done: make(chan struct{})}
}

func (w *readyWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if i := bytes.Index(w.buf.Bytes(), w.marker); i >= 0 {
		rest := w.buf.Bytes()[i+len(w.marker):]
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			w.addr = string(rest[:j])
			w.ok = true
			w.once.Do(func() { close(w.done) })
			return len(p), io.EOF // stop copying: the sidecar's output is its log now
		}
	}
	return len(p), nil
}

// closeOutput marks the end of the output.
func (w *readyWatcher) closeOutput() { w.once.Do(func() { close(w.done) }) }

func (w *readyWatcher) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.TrimSpace(w.buf.String())
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// removalWaiter is an engine that can wait for a container to be removed.
type removalWaiter interface {
	WaitRemoved(ctx context.Context, id string) error
}

// selfRemovalWait is how long finish waits for a proxy to stop by itself
// once its agent is gone (its relay's connection dropped), before it stops
// the proxy itself.
const selfRemovalWait = 2 * time.Second

// awaitSelfRemoval waits for a sidecar that stops with its agent to be
// gone; an error means it did not go in time (or the engine cannot tell).
func (m *Manager) awaitSelfRemoval(ctx context.Context, id string) error {
	w, ok := m.Engine.(removalWaiter)
	if !ok {
		return errors.ErrUnsupported
	}
	wctx, cancel := context.WithTimeout(ctx, selfRemovalWait)
	defer cancel()
	err := w.WaitRemoved(wctx, id)
	if wctx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("not gone within %s of its agent", selfRemovalWait)
	}
	return err
}

// errAgentNeverSeen is why a proxy is stopped at once: it never got the
// agent's port (the command ended first), so it cannot see the agent end.
var errAgentNeverSeen = errors.New("it never received the agent's port")

// proxySawAgent reports whether run r's proxy received its agent's port,
// and so stops by itself when the agent's container goes.
func (m *Manager) proxySawAgent(r *state.Run) bool {
	fi, err := os.Lstat(m.Store.Path(r.ID, state.ProxyDir+"/"+agentSeenFile))
	return err == nil && fi.Mode().IsRegular()
}

// saveSidecarLog keeps a sidecar's output with the run, in
// <role>/<role>d.log (buildkit/buildkitd.log).
func (m *Manager) saveSidecarLog(ctx context.Context, r *state.Run, sc state.Sidecar, id string) {
	var out bytes.Buffer
	if err := m.Engine.ContainerLogs(ctx, id, runtime.LogOptions{Tail: "all"}, &out, &out); err != nil || out.Len() == 0 {
		return
	}
	err := os.MkdirAll(m.Store.Path(r.ID, sc.Role), 0o700)
	if err == nil {
		err = m.writeRunFile(r, sc.Role+"/"+sc.Role+"d.log", out.Bytes())
	}
	if err != nil {
		m.warnf("saving the %s sidecar's log of run %s: %v", sc.Role, r.ID, err)
	}
}

// runSidecars finds a run's own sidecars among its containers, listed by
// label (so that none escapes a crash) once, for every feature that asks.
type runSidecars struct {
	list func() ([]runtime.ContainerInfo, error)
}

func (m *Manager) newRunSidecars(ctx context.Context, r *state.Run) *runSidecars {
	return &runSidecars{list: sync.OnceValues(func() ([]runtime.ContainerInfo, error) {
		cs, err := m.Engine.ListContainers(ctx, labels.RunFilter(r.ID))
		if err != nil {
			m.warnf("finding the sidecars of run %s: %v", r.ID, err)
		}
		return cs, err
	})}
}

// removeSidecars removes the sidecars of run r with role, as the record
// names them: remove takes one that is still there and says how it went; one
// already gone stopped with the agent.
func (m *Manager) removeSidecars(ctx context.Context, r *state.Run, sidecars *runSidecars, role string, remove func(sc state.Sidecar, id string) (how string, err error)) {
	for _, sc := range r.Sidecars {
		if sc.Role != role {
			continue
		}
		cs, err := sidecars.list()
		if err != nil {
			return // warned once by list
		}
		// Only the run's own sidecar with that role: the record's names are
		// matched against what the labels say, never acted on alone.
		i := slices.IndexFunc(cs, func(c runtime.ContainerInfo) bool {
			return (strings.TrimPrefix(c.Name, "/") == sc.Name || c.ID == sc.Name) &&
				m.owns("container", c.ID, c.Labels, r, sc.Role) == nil && isRunContainer(c)
		})
		if i < 0 {
			m.record(r, audit.KindSidecarRemoved, map[string]string{"role": sc.Role, "name": sc.Name, "how": "stopped with the agent"}, false)
			continue
		}
		how, err := remove(sc, cs[i].ID)
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			m.warnf("removing the %s sidecar of run %s: %v", sc.Role, r.ID, err)
			continue
		}
		m.record(r, audit.KindSidecarRemoved, map[string]string{"role": sc.Role, "name": sc.Name, "container_id": cs[i].ID, "how": how}, false)
	}
}

// stopAndRemove stops a sidecar and removes it.
func (m *Manager) stopAndRemove(ctx context.Context, id string) error {
	err := m.Engine.StopContainer(ctx, id, proxyStopGrace)
	if err == nil || errors.Is(err, runtime.ErrNotFound) {
		err = m.removeContainer(ctx, id)
	}
	return err
}

// removeProxy sees the run's proxy go: the proxy writes its last audit
// events as it stops, and the engine removes it once it exits. A proxy
// whose agent ended before has already stopped by itself; one that never
// saw its agent is stopped at once.
func (m *Manager) removeProxy(ctx context.Context, r *state.Run, sidecars *runSidecars) {
	m.removeSidecars(ctx, r, sidecars, labels.RoleProxy, func(_ state.Sidecar, id string) (string, error) {
		err := errAgentNeverSeen
		if m.proxySawAgent(r) {
			err = m.awaitSelfRemoval(ctx, id)
		}
		if err == nil {
			return "stopped with the agent", nil
		}
		// Why moat had to stop it, in the audit log: a bound that expired
		// on what should have been the normal path shows there.
		return "stopped by moat (" + err.Error() + ")", m.stopAndRemove(ctx, id)
	})
}
