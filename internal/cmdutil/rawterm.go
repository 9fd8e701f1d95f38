package cmdutil

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/moatsh/moat/internal/iostreams"
)

// RawTerminal puts the user's terminal (stdin) in raw mode for a command
// that gets a terminal, and signals each change of its size on resized.
// restore gives the terminal back; stdin that is no terminal is left as
// it is.
func RawTerminal(io *iostreams.IOStreams) (resized <-chan struct{}, restore func(), err error) {
	changed := make(chan struct{}, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for range winch {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	stop := func() { signal.Stop(winch) }
	if !io.IsStdinTTY() || io.InFd() < 0 {
		return changed, stop, nil
	}
	old, err := term.MakeRaw(io.InFd())
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("setting the terminal to raw mode: %w", err)
	}
	return changed, func() {
		stop()
		term.Restore(io.InFd(), old)
	}, nil
}
