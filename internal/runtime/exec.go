package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
)

// ExecOptions is a command to run in a running container beside its own.
type ExecOptions struct {
	Cmd        []string
	Env        []string // KEY=VALUE, over the container's own
	User       string   // "" is the container's user
	WorkingDir string   // "" is the container's
	Stdin      bool     // forward input to the command
	TTY        bool     // the command gets a terminal: output is one raw stream
	// DetachKeys is the engine's detach sequence for this command ("" is
	// the engine's default), in Docker's "ctrl-p,ctrl-q" form.
	DetachKeys string
	// Height and Width are the terminal's size at the start (TTY); 0 is
	// the engine's default.
	Height, Width uint
}

// ExecSession is a started command in a container: its streams, its
// terminal's size and, once its output has ended, its exit code.
type ExecSession interface {
	Stream
	Resize(ctx context.Context, height, width uint) error
	ExitCode(ctx context.Context) (int, error)
}

// Exec starts a command in running container id and attaches to it.
// A container that is not running gives ErrConflict.
func (d *Docker) Exec(ctx context.Context, id string, opts ExecOptions) (ExecSession, error) {
	cfg := container.ExecOptions{
		User: opts.User, Tty: opts.TTY, AttachStdin: opts.Stdin, AttachStdout: true, AttachStderr: true,
		DetachKeys: opts.DetachKeys, Env: opts.Env, WorkingDir: opts.WorkingDir, Cmd: opts.Cmd,
	}
	start := container.ExecAttachOptions{Tty: opts.TTY}
	if opts.TTY && opts.Height > 0 && opts.Width > 0 {
		size := [2]uint{opts.Height, opts.Width}
		cfg.ConsoleSize, start.ConsoleSize = &size, &size
	}
	created, err := d.cli.ContainerExecCreate(ctx, id, cfg)
	if err != nil {
		return nil, mapErr(err)
	}
	hr, err := d.cli.ContainerExecAttach(ctx, created.ID, start)
	if err != nil {
		return nil, mapErr(err)
	}
	return &execSession{hijacked: hijacked{hr: hr, tty: opts.TTY}, d: d, id: created.ID}, nil
}

type execSession struct {
	hijacked
	d  *Docker
	id string
}

func (e *execSession) Resize(ctx context.Context, height, width uint) error {
	return mapErr(e.d.cli.ContainerExecResize(ctx, e.id, container.ResizeOptions{Height: height, Width: width}))
}

// ExitCode waits the short while the engine may take to record the end of a
// command whose output has closed.
func (e *execSession) ExitCode(ctx context.Context) (int, error) {
	delay := time.Millisecond
	for {
		ins, err := e.d.cli.ContainerExecInspect(ctx, e.id)
		if err != nil {
			return 0, mapErr(err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		// Still running with its streams closed: detached (the engine's
		// detach keys), or about to end.
		if delay > 64*time.Millisecond {
			return 0, fmt.Errorf("the command is still running: %w", ErrDetached)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(delay):
			delay *= 2
		}
	}
}

// ErrDetached reports that the user detached from a command that goes on.
var ErrDetached = errors.New("detached")
