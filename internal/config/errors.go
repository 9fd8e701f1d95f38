package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatsh/moat/internal/textdist"
)

// Error is a problem found in agent.yaml. Line and Col are 1-based and point
// at the offending key or value; they are 0 when the problem has no position
// (a file that cannot be read, a mount given on the command line).
type Error struct {
	File   string // the path as the caller gave it, e.g. "agent.yaml"
	Line   int
	Col    int
	Msg    string // what is wrong, lower-case, no final period
	Remedy string // what to do about it, a sentence; may be empty
	Err    error  // the underlying cause, if any (e.g. a *deps.SpecError)
}

// Hint returns the remedy. It makes *Error a cmdutil.Hinter, so the CLI
// prints the remedy after a blank line.
func (e *Error) Hint() string { return e.Remedy }

// Error renders "file:line:col: msg", without the remedy.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(displayPath(e.File))
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, so errors.As can reach it.
func (e *Error) Unwrap() error { return e.Err }

// problem is an error without a file or position. Validation functions return
// it; the decoder adds the position of the value it was checking.
type problem struct {
	msg  string
	hint string
	err  error
}

func (p *problem) Error() string { return p.msg }

// Hint is the remedy, printed by the CLI after the error.
func (p *problem) Hint() string { return p.hint }

func newProblem(hint, format string, args ...any) *problem {
	return &problem{msg: fmt.Sprintf(format, args...), hint: hint}
}

// suggest returns the candidate closest to s, or "" when none is close
// enough to be a likely typo.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return c
		}
		if d := textdist.Distance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// displayPath is path as the user reads it best: relative to the current
// directory when it lies below it ("agent.yaml:2:1" in the workspace, as
// compilers print it), else as given.
func displayPath(path string) string {
	if !filepath.IsAbs(path) {
		return path
	}
	cwd, err := os.Getwd()
	if err != nil {
		return path
	}
	for _, dir := range []string{cwd, withLinksResolved(cwd)} {
		if rel, err := filepath.Rel(dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return rel
		}
	}
	return path
}

func withLinksResolved(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return dir
}
