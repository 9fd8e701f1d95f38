package run

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// AttachOptions connects the user's streams to a running run's command.
type AttachOptions struct {
	// Stdin is forwarded when the run was started with -i; it should end
	// (io.EOF) with Detached reporting true when the user detaches.
	Stdin          io.Reader
	Detached       func() bool
	Stdout, Stderr io.Writer
	DetachKeys     string // the engine's form; "" is its default
	TerminalSize   func() (width, height int)
	Resized        <-chan struct{}
}

// Attach connects to run r's command until it ends, then waits for the run
// to finish and returns it (its exit code recorded), or until the user
// detaches (ErrDetached), which leaves it running.
func (m *Manager) Attach(ctx context.Context, r *state.Run, opts AttachOptions) (*state.Run, error) {
	if r.Status != state.Running || r.ContainerID == "" {
		return r, &NotRunningError{Run: r.Name, Status: r.Status}
	}
	stream, err := m.Engine.AttachContainer(ctx, r.ContainerID, runtime.AttachOptions{
		Stdin: opts.Stdin != nil, TTY: r.TTY, DetachKeys: opts.DetachKeys,
	})
	if errors.Is(err, runtime.ErrNotFound) || errors.Is(err, runtime.ErrConflict) {
		return r, &NotRunningError{Run: r.Name, Status: state.Exited}
	}
	if err != nil {
		return r, fmt.Errorf("attaching to the run's container: %w", err)
	}
	defer stream.Close()
	outDone := make(chan error, 1)
	go func() { outDone <- stream.CopyOutput(orDiscard(opts.Stdout), orDiscard(opts.Stderr)) }()
	detached := make(chan struct{})
	if opts.Stdin != nil {
		go func() {
			if forwardStdin(stream, opts.Stdin, opts.Detached) {
				close(detached)
			}
		}()
	}
	if r.TTY {
		go followSizes(ctx, func(ctx context.Context, h, w uint) error { return m.Engine.ResizeTTY(ctx, r.ContainerID, h, w) },
			opts.TerminalSize, opts.Resized)
	}
	select {
	case <-detached:
		return r, ErrDetached
	case <-ctx.Done():
		return r, ctx.Err()
	case <-outDone:
	}
	if !m.commandEnded(ctx, r) {
		return r, ErrDetached // the engine's own detach keys
	}
	return m.Wait(ctx, r)
}
