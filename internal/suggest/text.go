package suggest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// text is agent.yaml as lines, each with its line end (the last one may
// have none), so that an edit keeps every byte it does not touch.
type text struct {
	lines []string
	bom   int    // bytes of a byte-order mark at the start of the first line
	eol   string // the file's first line end, "\n" or "\r\n"; new lines use it
}

const byteOrderMark = "\ufeff"

// newText splits data into lines. A carriage return that does not end a
// line is refused: YAML counts it as a line break and a line editor
// would not.
func newText(data []byte) (*text, error) {
	t := &text{eol: "\n"}
	if bytes.HasPrefix(data, []byte(byteOrderMark)) {
		t.bom = len(byteOrderMark)
	}
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		t.eol = "\r\n"
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line = data[:i+1]
		}
		if j := bytes.IndexByte(line, '\r'); j >= 0 && j != len(line)-2 {
			return nil, &EditError{Line: len(t.lines) + 1, Why: "a carriage return that does not end the line"}
		}
		t.lines = append(t.lines, string(line))
		data = data[len(line):]
	}
	return t, nil
}

// line returns line n (1-based) without its line end, and without the
// byte-order mark on the first.
func (t *text) line(n int) string {
	if n < 1 || n > len(t.lines) {
		return ""
	}
	s := strings.TrimRight(t.lines[n-1], "\r\n")
	if n == 1 {
		s = s[min(t.bom, len(s)):]
	}
	return s
}

// byteCol returns the byte offset in line n (as line returns it) of the
// 1-based column col, counted in characters as the YAML scanner counts.
func (t *text) byteCol(n, col int) (int, bool) {
	s := t.line(n)
	off := 0
	for c := 1; c < col; c++ {
		if off >= len(s) {
			return 0, false
		}
		_, size := utf8.DecodeRuneInString(s[off:])
		off += size
	}
	return off, off <= len(s)
}

// blankOrComment reports whether line n holds nothing but spaces and
// perhaps a comment.
func (t *text) blankOrComment(n int) bool {
	s := strings.TrimLeft(t.line(n), " \t")
	return s == "" || s[0] == '#'
}

// restIsEmpty reports whether line n holds nothing but spaces and perhaps
// a comment from byte offset off on.
func (t *text) restIsEmpty(n, off int) bool {
	s := t.line(n)
	if off > len(s) {
		return false
	}
	rest := strings.TrimLeft(s[off:], " \t")
	return rest == "" || rest[0] == '#'
}

// lineEdit replaces del lines starting at index at (0-based) with add, or
// inserts add before index at when del is 0. Lines in add carry their
// line ends.
type lineEdit struct {
	at, del int
	add     []string
}

// insertAfter inserts lines after line n (1-based; 0 is before the first
// line). After a last line without a line end it adds one.
func (t *text) insertAfter(n int, lines []string) lineEdit {
	if n > 0 && n == len(t.lines) && !strings.HasSuffix(t.lines[n-1], "\n") {
		return lineEdit{at: n - 1, del: 1, add: append([]string{t.lines[n-1] + t.eol}, lines...)}
	}
	return lineEdit{at: n, add: lines}
}

// replaceInLine replaces the bytes [from, to) of line n (offsets as line
// returns it) with s.
func (t *text) replaceInLine(n, from, to int, s string) lineEdit {
	if n == 1 {
		from, to = from+t.bom, to+t.bom
	}
	old := t.lines[n-1]
	return lineEdit{at: n - 1, del: 1, add: []string{old[:from] + s + old[to:]}}
}

// apply returns the text with edits made. Edits must not overlap.
func (t *text) apply(edits []lineEdit) ([]byte, error) {
	edits = slices.Clone(edits)
	slices.SortStableFunc(edits, func(a, b lineEdit) int { return a.at - b.at })
	var b strings.Builder
	next := 0
	for _, e := range edits {
		if e.at < next || e.at+e.del > len(t.lines) {
			return nil, fmt.Errorf("internal error: overlapping edits at line %d", e.at+1)
		}
		b.WriteString(strings.Join(t.lines[next:e.at], ""))
		b.WriteString(strings.Join(e.add, ""))
		next = e.at + e.del
	}
	b.WriteString(strings.Join(t.lines[next:], ""))
	return []byte(b.String()), nil
}
