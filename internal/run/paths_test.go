package run

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMountsCannotReachProtectedPaths plants the mounts a hostile
// agent.yaml would: each is refused before anything is created.
//
// Not parallel: it sets XDG_RUNTIME_DIR.
func TestMountsCannotReachProtectedPaths(t *testing.T) {
	m := noTerminal(t)
	m.AskApproval = func(ApprovalRequest) (bool, error) { return true, nil }
	home := m.Store.Root
	runtimeDir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	outside := t.TempDir()
	tests := []struct {
		name, mount string
		setup       func(ws string)
		want        string
	}{
		{"moat home", home + ":/loot", nil, "is inside the moat home"},
		{"inside moat home", home + "/keys:/loot", func(string) { os.MkdirAll(filepath.Join(home, "keys"), 0o700) }, "is inside the moat home"},
		{"parent of moat home", filepath.Dir(home) + ":/loot", nil, "contains the moat home"},
		{"root", "/:/host", nil, "contains the moat home"},
		{"runtime dir", runtimeDir + ":/rt", nil, "is inside your runtime directory"},
		{"link to moat home", "./cache:/cache", func(ws string) { os.Symlink(home, filepath.Join(ws, "cache")) }, "outside the workspace"},
		{"absolute link to moat home", outside + "/l:/cache", func(string) { os.Symlink(home, filepath.Join(outside, "l")) }, "is inside the moat home"},
		{"dot dot", "../:/up", nil, "outside the workspace"},
		{"target over moat's files", "./d:/run/moat", func(ws string) { os.Mkdir(filepath.Join(ws, "d"), 0o755) }, "would cover /run/moat"},
		{"target over init", "./d:/usr/local", func(ws string) { os.Mkdir(filepath.Join(ws, "d"), 0o755) }, "would cover /usr/local/bin/moat-init"},
		{"target over passwd", "./d:/etc", func(ws string) { os.Mkdir(filepath.Join(ws, "d"), 0o755) }, "would cover /etc/passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := writeWorkspace(t, "mounts: [\""+tt.mount+"\"]\n")
			if tt.setup != nil {
				tt.setup(ws)
			}
			err := runWorkspace(m, ws)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestWorkspaceCannotHoldMoatHome(t *testing.T) {
	t.Parallel()
	m := noTerminal(t)
	for _, ws := range []string{m.Store.Root, filepath.Dir(m.Store.Root), filepath.Join(m.Store.Root, "runs")} {
		os.MkdirAll(ws, 0o700)
		var pe *ProtectedPathError
		if err := runWorkspace(m, ws); !errors.As(err, &pe) {
			t.Errorf("workspace %s: got %v, want a ProtectedPathError", ws, err)
		}
	}
}

func TestNetworkCAMustBeAWorkspaceFile(t *testing.T) {
	t.Parallel()
	m := noTerminal(t)
	m.AskApproval = func(ApprovalRequest) (bool, error) { return true, nil }
	outside := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(outside, []byte("x"), 0o644)
	tests := []struct {
		name, ca string
		setup    func(ws string)
		want     string
	}{
		{"absolute", outside, nil, "must be a path relative to the workspace"},
		{"home", "~/ca.pem", nil, "must be a path relative to the workspace"},
		{"link out", "ca.pem", func(ws string) { os.Symlink(outside, filepath.Join(ws, "ca.pem")) }, "leads outside the workspace"},
		{"fifo", "ca.pem", func(ws string) { mkfifo(t, filepath.Join(ws, "ca.pem")) }, "not a regular file (a FIFO)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := writeWorkspace(t, "network: {ca: \""+tt.ca+"\"}\n")
			if tt.setup != nil {
				tt.setup(ws)
			}
			var ce *CAFileError
			if err := runWorkspace(m, ws); !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a CAFileError with %q", err, tt.want)
			}
		})
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}
