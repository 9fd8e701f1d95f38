package cmdutil

import (
	"io"

	"github.com/moatsh/moat/internal/termtext"
)

// TerminalWriter returns w unchanged for a pipe or a file, where the
// agent's bytes are the user's data, and for a terminal (tty) a writer that
// drops the control sequences in what the agent wrote: it must not write to
// the user's clipboard, retitle the window or query the terminal. flush
// writes the unfinished character such a writer may hold back.
func TerminalWriter(w io.Writer, tty bool) (_ io.Writer, flush func()) {
	if !tty {
		return w, func() {}
	}
	tw := termtext.NewWriter(w)
	return tw, func() { tw.Flush() }
}
