// Package cmdutil owns what every command shares: the Factory of lazily
// built dependencies, the typed errors that decide the exit code, and the
// helpers for --json output.
package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes moat itself uses; the agent's own exit code passes through.
const (
	ExitOK          = 0
	ExitMoatFailure = 125 // moat failed before the command started
	ExitCannotRun   = 126
	ExitNotFound    = 127
)

// FlagError is a usage error: bad flags or arguments. Main prints usage.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ExitError passes a code through to the process exit status without
// printing anything (the agent's own exit code, like docker's StatusError).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// CancelError reports that the user interrupted a command.
var CancelError = errors.New("cancelled")

// Hinter is an error that carries a remedy, printed after a blank line.
type Hinter interface{ Hint() string }

// WithHint attaches a remedy to an error.
func WithHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }
func (e *hintError) Hint() string  { return e.hint }

// HintOf returns the first remedy found in err's chain.
func HintOf(err error) string {
	var h Hinter
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}
