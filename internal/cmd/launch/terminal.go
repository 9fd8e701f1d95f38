package launch

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// rawTerminal is the user's terminal while a TTY run has it in raw mode.
type rawTerminal struct {
	fd  int
	old *term.State // nil when the terminal is not raw
}

// whileCooked runs f with the terminal back in its normal mode, for a
// question asked before the run starts.
func (t *rawTerminal) whileCooked(f func()) {
	if t.old == nil {
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

// setupTerminal puts the user's terminal in raw mode for a TTY run and
// reports size changes; restore undoes it.
func setupTerminal(io *iostreams.IOStreams, ro *run.Options, raw *rawTerminal) (restore func(), err error) {
	ro.TerminalSize = io.TerminalSize
	resized := make(chan struct{}, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for range winch {
			select {
			case resized <- struct{}{}:
			default:
			}
		}
	}()
	ro.Resized = resized
	restore = func() { signal.Stop(winch) }
	if !io.IsStdinTTY() || io.InFd() < 0 {
		return restore, nil
	}
	old, err := term.MakeRaw(io.InFd())
	if err != nil {
		return restore, fmt.Errorf("setting the terminal to raw mode: %w", err)
	}
	raw.fd, raw.old = io.InFd(), old
	return func() {
		signal.Stop(winch)
		term.Restore(io.InFd(), old)
	}, nil
}
