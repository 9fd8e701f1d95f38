// Package factory wires the concrete parts (the Docker engine adapter, the
// run store under the moat home) into the Factory every command receives.
package factory

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// New returns the Factory for a real process.
func New(version string) *cmdutil.Factory {
	io := iostreams.System()
	f := &cmdutil.Factory{IOStreams: io, Version: version}
	var once sync.Once
	var mgr *run.Manager
	var err error
	f.Manager = func(ctx context.Context) (*run.Manager, error) {
		once.Do(func() { mgr, err = newManager(ctx, io, version) })
		return mgr, err
	}
	f.Store = openStore
	return f
}

func openStore() (*state.Store, error) {
	root, err := state.DefaultRoot()
	if err != nil {
		return nil, err
	}
	return &state.Store{Root: root}, nil
}

func newManager(ctx context.Context, io *iostreams.IOStreams, version string) (*run.Manager, error) {
	store, err := openStore()
	if err != nil {
		return nil, err
	}
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		return nil, err
	}
	progress := newBuildProgress(io)
	keyDir := store.KeysDir()
	signingKey := sync.OnceValues(func() (ed25519.PrivateKey, error) { return audit.LoadOrCreateKey(keyDir) })
	return &run.Manager{
		SigningKey: signingKey,
		Engine:     eng,
		Store:      store,
		Version:    version,
		Warnf: func(format string, args ...any) {
			fmt.Fprintf(io.ErrOut, "warning: "+format+"\n", args...)
		},
		OnBuild: progress.onEvent,
	}, nil
}

// buildProgress renders image build events on stderr: a line redrawn per
// step on a terminal, one line per build otherwise.
type buildProgress struct {
	io *iostreams.IOStreams
}

func newBuildProgress(io *iostreams.IOStreams) *buildProgress { return &buildProgress{io: io} }

func (p *buildProgress) onEvent(e image.Event) {
	w := p.io.ErrOut
	tty := p.io.IsStderrTTY()
	switch e.Kind {
	case image.BuildStarted:
		fmt.Fprintf(w, "Building image %s (first run with these dependencies; later runs reuse it)\n", e.Text)
	case image.StepStarted:
		if tty {
			fmt.Fprintf(w, "\r\033[K  step %d/%d: %s", e.Step, e.Steps, truncate(e.Text, 70))
		}
	case image.StepOutput:
		// Output is kept for error reports; showing it would drown the steps.
	case image.BuildDone:
		if tty {
			fmt.Fprint(w, "\r\033[K")
		}
		fmt.Fprintf(w, "Built image %s\n", e.Text)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
