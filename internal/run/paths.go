package run

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/image"
)

// Host paths come from agent.yaml, which the agent can rewrite, and name
// files the agent can replace with links: each is resolved, links and
// all, every time a run starts, and checked against what a run must never
// reach.

// protectedPath is a host path no workspace or mount may be, contain or
// sit inside.
type protectedPath struct {
	what string // for messages: "the moat home"
	path string // absolute, links resolved where it exists
}

// defaultEngineSockets are where engines usually listen, besides the one
// this moat talks to.
var defaultEngineSockets = []string{
	"/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
	"/run/podman/podman.sock", "/run/buildkit/buildkitd.sock",
}

// protectedPaths lists the moat home (keys, grants, other runs), the
// engine sockets (root on the host) and the user's runtime directory
// (their session's sockets, rootless engines among them).
func (m *Manager) protectedPaths() []protectedPath {
	var out []protectedPath
	add := func(what, path string) {
		if path == "" || !filepath.IsAbs(path) {
			return
		}
		if r, err := filepath.EvalSymlinks(path); err == nil {
			path = r
		}
		out = append(out, protectedPath{what: what, path: filepath.Clean(path)})
	}
	add("the moat home", m.Store.Root)
	if se, ok := m.Engine.(socketEngine); ok {
		if sock, err := se.SocketPath(); err == nil {
			add("the container engine's socket", sock)
		}
	}
	for _, s := range defaultEngineSockets {
		add("a container engine's socket", s)
	}
	add("your runtime directory ($XDG_RUNTIME_DIR)", os.Getenv("XDG_RUNTIME_DIR"))
	return out
}

// within reports whether path is dir or inside it; both are clean and
// absolute.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// checkProtected refuses a resolved host path that is, contains or sits
// inside a protected path.
func checkProtected(path string, protected []protectedPath) error {
	for _, p := range protected {
		switch {
		case within(p.path, path):
			return fmt.Errorf("%s is inside %s (%s)", path, p.what, p.path)
		case within(path, p.path):
			return fmt.Errorf("%s contains %s (%s)", path, p.what, p.path)
		}
	}
	return nil
}

// ProtectedPathError reports a workspace or mount that would expose what a
// run must never reach.
type ProtectedPathError struct {
	File string // agent.yaml, or "" for the workspace itself
	What string // "workspace", `mount "~:/home"`
	Err  error
}

func (e *ProtectedPathError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: %v", e.What, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.File, e.What, e.Err)
}
func (e *ProtectedPathError) Unwrap() error { return e.Err }
func (e *ProtectedPathError) Hint() string {
	if e.File == "" {
		return "Run moat on a project directory that holds neither moat's home nor an engine socket, such as ./project."
	}
	return "Mount a narrower directory, one outside moat's home, engine sockets and $XDG_RUNTIME_DIR, or remove the mount from agent.yaml."
}

// checkWorkspace refuses a workspace that would hand the agent moat's home
// or an engine's socket ('moat run ~').
func (m *Manager) checkWorkspace(ws string) error {
	if err := checkProtected(ws, m.protectedPaths()); err != nil {
		return &ProtectedPathError{What: "workspace", Err: err}
	}
	return nil
}

// MountPathError reports a mount source that cannot be used.
type MountPathError struct {
	File  string
	Mount config.Mount
	Err   error
}

func (e *MountPathError) Error() string {
	return fmt.Sprintf("%s: mount %s: %v", e.File, printable(e.Mount.String()), e.Err)
}
func (e *MountPathError) Unwrap() error { return e.Err }
func (e *MountPathError) Hint() string {
	return "A relative source must stay inside the workspace, links included; give an absolute path for anything else."
}

// resolveMountSource returns the host path a mount's source names, links
// resolved. A relative source must resolve inside the workspace.
func (m *Manager) resolveMountSource(mt config.Mount, p *plan, protected []protectedPath) (string, error) {
	src := expandSource(mt.Source, p.workspace)
	resolved, err := filepath.EvalSymlinks(src)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &MountError{File: configName(p), Mount: mt, Source: src}
	}
	if err != nil {
		return "", &MountPathError{File: configName(p), Mount: mt, Err: err}
	}
	if isRelativeSource(mt.Source) && !within(p.workspace, resolved) {
		return "", &MountPathError{File: configName(p), Mount: mt,
			Err: fmt.Errorf("the source resolves to %s, outside the workspace", printable(resolved))}
	}
	if err := checkProtected(resolved, protected); err != nil {
		return "", &ProtectedPathError{File: configName(p), What: "mount " + printable(mt.String()), Err: err}
	}
	return resolved, nil
}

func isRelativeSource(src string) bool {
	return !filepath.IsAbs(src) && !strings.HasPrefix(src, "~/")
}

// moatTargets are container paths that hold moat's own files: a mount may
// not be, contain or sit inside one.
var moatTargets = []string{
	"/run/moat", image.InitPath, "/etc/passwd", "/etc/group", "/etc/hosts",
	"/etc/ssl/certs", "/usr/local/share/ca-certificates", dindDataDir,
	"/proc", "/sys", "/dev",
}

// MountTargetError reports a mount that would cover moat's own files in the
// container.
type MountTargetError struct {
	File   string
	Mount  config.Mount
	Covers string
}

func (e *MountTargetError) Error() string {
	return fmt.Sprintf("%s: mount %s: the target would cover %s, which moat sets up in the container",
		e.File, printable(e.Mount.String()), e.Covers)
}
func (e *MountTargetError) Hint() string {
	return "Mount at another path, such as /data or a directory inside /workspace."
}

func checkMountTarget(mt config.Mount, p *plan) error {
	for _, t := range moatTargets {
		if within(t, mt.Target) || within(mt.Target, t) {
			return &MountTargetError{File: configName(p), Mount: mt, Covers: t}
		}
	}
	return nil
}

// maxWorkspaceFile bounds what moat reads from a file agent.yaml names.
const maxWorkspaceFile = 1 << 20

// readWorkspaceFile reads a regular file at rel inside the workspace,
// following links only while they stay inside it, without blocking on a
// FIFO or reading a device.
func readWorkspaceFile(ws, rel string) ([]byte, error) {
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "~") {
		return nil, errors.New("must be a path relative to the workspace")
	}
	return config.ReadInside(ws, rel, maxWorkspaceFile)
}
