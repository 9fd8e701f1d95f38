package cmdutil

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/term"

	"github.com/moatsh/moat/internal/iostreams"
)

// Terminal is the user's terminal while a command that was given it
// ('moat run -it', 'moat exec -it', 'moat attach') runs: in raw mode, with
// each change of its size signalled on Resized.
type Terminal struct {
	// Resized receives a value after the terminal's size changed; changes
	// that come while one is pending are folded into it.
	Resized <-chan struct{}

	fd    int
	tty   bool        // stdin is a terminal
	old   *term.State // nil when stdin is no terminal, or not raw yet
	winch chan os.Signal
	done  sync.Once
}

// RawTerminal puts the user's terminal (stdin) in raw mode for a command
// that gets a terminal, and starts watching its size. Restore gives the
// terminal back; stdin that is no terminal is left as it is.
func RawTerminal(io *iostreams.IOStreams) (*Terminal, error) {
	t := WatchTerminal(io)
	if err := t.MakeRaw(); err != nil {
		t.Restore()
		return nil, err
	}
	return t, nil
}

// WatchTerminal starts watching the size of the user's terminal, leaving
// its mode as it is until MakeRaw: 'moat run -it' builds and starts the
// run first, and what it prints meanwhile must read as lines, its Ctrl-C
// interrupt moat.
func WatchTerminal(io *iostreams.IOStreams) *Terminal {
	resized := make(chan struct{}, 1)
	t := &Terminal{Resized: resized, fd: io.InFd(), winch: make(chan os.Signal, 1), tty: io.IsStdinTTY()}
	signal.Notify(t.winch, syscall.SIGWINCH)
	go func() {
		for range t.winch {
			select {
			case resized <- struct{}{}:
			default:
			}
		}
	}()
	return t
}

// MakeRaw puts the terminal in raw mode, unless stdin is no terminal.
// Restore undoes it.
func (t *Terminal) MakeRaw() error {
	if !t.tty || t.fd < 0 || t.old != nil {
		return nil
	}
	old, err := term.MakeRaw(t.fd)
	if err != nil {
		return fmt.Errorf("setting the terminal to raw mode: %w", err)
	}
	t.old = old
	return nil
}

// Restore stops watching the terminal's size and puts it back in the mode
// it had before RawTerminal. It is idempotent.
func (t *Terminal) Restore() {
	t.done.Do(func() {
		signal.Stop(t.winch)
		close(t.winch) // no signal comes after Stop: this ends the watcher
		if t.old != nil {
			term.Restore(t.fd, t.old)
		}
	})
}

// IsRaw reports whether the terminal is in raw mode now, where a line
// moat prints must end in "\r\n". A nil Terminal is not.
func (t *Terminal) IsRaw() bool { return t != nil && t.old != nil }

// WhileCooked runs f with the terminal back in its normal mode, for a
// question asked before the command starts. A nil Terminal (the command
// has no terminal) just runs f.
func (t *Terminal) WhileCooked(f func()) {
	if t == nil || t.old == nil {
		f()
		return
	}
	cur, err := term.GetState(t.fd)
	if err != nil {
		f()
		return
	}
	term.Restore(t.fd, t.old)
	defer term.Restore(t.fd, cur)
	f()
}
