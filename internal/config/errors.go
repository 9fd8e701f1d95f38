package config

import (
	"fmt"
	"strings"
)

// Error is a problem found in agent.yaml. Line and Col are 1-based and point
// at the offending key or value; they are 0 when the problem has no position
// (for example one found by Validate on a Config built in code).
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
		b.WriteString(e.File)
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
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
