// Package cmdutil owns what every command shares: the Factory of lazily
// built dependencies, the typed errors that decide the exit code, and the
// helpers for --json output.
package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/moatsh/moat/internal/termtext"
)

// Exit codes moat itself uses; the agent's own exit code passes through.
const (
	ExitOK          = 0
	ExitMoatFailure = 125 // moat failed before the command started
	ExitCannotRun   = 126
	ExitNotFound    = 127
)

// RunsCommand is the key, in a command's Annotations, that marks a command
// running a command in a container ('moat run' and the agent launchers):
// its own failures exit ExitMoatFailure, as docker run's do.
const RunsCommand = "moat.runs-command"

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

// PrintError writes err as moat reports a failure: "moat: " and the
// message, then its remedy after a blank line. Errors quote agent.yaml
// values, workspace paths and build log tails: the agent's text, never
// control sequences, reaches the terminal.
func PrintError(w io.Writer, err error) {
	fmt.Fprintf(w, "moat: %s\n", termtext.String(err.Error()))
	if hint := HintOf(err); hint != "" {
		fmt.Fprintf(w, "\n%s\n", termtext.String(hint))
	}
}

// EachRun runs do for every run named, as docker stop and docker rm do for
// several containers: with more than one, a failure is reported on stderr
// and the others still go, and the command then exits 1; an interrupt
// stops the loop. One name (or none, "") returns its error as is.
func EachRun(ctx context.Context, errOut io.Writer, refs []string, do func(ref string) error) error {
	switch len(refs) {
	case 0:
		return do("")
	case 1:
		return do(refs[0])
	}
	failed := false
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := do(ref); err != nil {
			var exit *ExitError
			if !errors.As(err, &exit) {
				PrintError(errOut, err)
			}
			failed = true
		}
	}
	if failed {
		return &ExitError{Code: 1}
	}
	return nil
}

// UsageError makes err, a bad flag or argument cobra or pflag found, a
// FlagError in moat's words: a flag value that is not a number, a
// duration or a boolean says what it should be, not which Go function
// refused it ("strconv.ParseInt: parsing ..."). Argument counts are
// checked by moat's own NoArgs, ExactArgs and the like (args.go).
func UsageError(cmd *cobra.Command, err error) error {
	var invalid *pflag.InvalidValueError
	if errors.As(err, &invalid) {
		return &FlagError{Err: fmt.Errorf("invalid value %q for %s: %s", invalid.GetValue(), flagName(invalid.GetFlag()), wantedValue(invalid))}
	}
	var flagErr *FlagError
	if errors.As(err, &flagErr) {
		return err
	}
	return &FlagError{Err: err}
}

func flagName(f *pflag.Flag) string {
	if f.Shorthand != "" && f.ShorthandDeprecated == "" {
		return "-" + f.Shorthand + "/--" + f.Name
	}
	return "--" + f.Name
}

// wantedValue says what a flag of invalid's type takes.
func wantedValue(invalid *pflag.InvalidValueError) string {
	var num *strconv.NumError
	if errors.As(invalid, &num) && errors.Is(num.Err, strconv.ErrRange) {
		return "the number is out of range"
	}
	switch invalid.GetFlag().Value.Type() {
	case "int", "int8", "int16", "int32", "int64":
		return "want a whole number"
	case "uint", "uint8", "uint16", "uint32", "uint64":
		return "want a whole number, 0 or more"
	case "float32", "float64":
		return "want a number"
	case "bool":
		return "want true or false"
	case "duration":
		return "want a duration such as 30s, 5m or 1h30m"
	}
	return invalid.Unwrap().Error()
}
