package launch

import (
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

// setupTerminal reports size changes of the user's terminal for a TTY run
// and puts it in raw mode once the run is attached (ro.OnAttach); restore
// undoes both.
func setupTerminal(io *iostreams.IOStreams, ro *run.Options, raw *rawTerminal) (restore func()) {
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
	if io.IsStdinTTY() && io.InFd() >= 0 {
		ro.OnAttach = func() {
			// Without raw mode the run still works, with the terminal's
			// line editing and echo on top of the command's.
			if old, err := term.MakeRaw(io.InFd()); err == nil {
				raw.fd, raw.old = io.InFd(), old
			}
		}
	}
	return func() {
		signal.Stop(winch)
		if raw.old != nil {
			term.Restore(raw.fd, raw.old)
		}
	}
}
