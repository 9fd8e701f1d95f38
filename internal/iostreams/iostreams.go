// Package iostreams owns the CLI's standard streams: where results (stdout)
// and progress and errors (stderr) go, whether each is a terminal, and test
// buffers that stand in for them.
package iostreams

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the streams a command reads and writes.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, outTTY, errTTY bool
}

// System returns the process's own streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		inTTY: isTerminal(os.Stdin), outTTY: isTerminal(os.Stdout), errTTY: isTerminal(os.Stderr),
	}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Test returns streams backed by buffers: stdin, stdout, stderr.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// SetTTY marks the streams as terminals or not (for tests).
func (s *IOStreams) SetTTY(in, out, errOut bool) { s.inTTY, s.outTTY, s.errTTY = in, out, errOut }

// IsStdinTTY reports whether stdin is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.inTTY }

// IsStdoutTTY reports whether stdout is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }

// IsStderrTTY reports whether stderr is a terminal: spinners and redrawn
// progress appear only then.
func (s *IOStreams) IsStderrTTY() bool { return s.errTTY }

// InFd and OutFd return the terminal file descriptors, or -1.
func (s *IOStreams) InFd() int  { return fd(s.In) }
func (s *IOStreams) OutFd() int { return fd(s.Out) }

func fd(v any) int {
	if f, ok := v.(*os.File); ok {
		return int(f.Fd())
	}
	return -1
}

// TerminalSize returns stdout's size, or 0, 0 when it is not a terminal.
func (s *IOStreams) TerminalSize() (width, height int) {
	w, h, err := term.GetSize(s.OutFd())
	if err != nil {
		return 0, 0
	}
	return w, h
}
