// Package cmdtest owns helpers for command tests: an orchestrator on the
// fake engine, and runs made with it.
package cmdtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/run/runtest"
	"github.com/moatsh/moat/internal/state"
)

// Manager returns an orchestrator on a fake engine with a fresh store, for
// command tests.
func Manager(t *testing.T) (*run.Manager, *runtest.Engine) {
	t.Helper()
	eng := runtest.NewEngine(run.DefaultBaseImage)
	bin, err := runtest.StaticBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &run.Manager{Engine: eng, Store: &state.Store{Root: t.TempDir()}, Version: "test", ProxyBinary: bin}, eng
}

// Detached starts a detached run named name and returns it.
func Detached(t *testing.T, m *run.Manager, name string) *state.Run {
	t.Helper()
	ws := filepath.Join(t.TempDir(), "ws")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(context.Background(), run.Options{Workspace: ws, Name: name, Detach: true, Command: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Run
}
