package suggest

import (
	"fmt"
	"slices"
	"strings"
)

// diffContext is the number of unchanged lines a hunk shows around a
// change, as diff -u and git do.
const diffContext = 3

// Diff renders the patch as a unified diff of the file name, with git's
// a/ and b/ prefixes, so that 'git apply' or 'patch -p1' in the directory
// that holds it applies it. A file that did not exist (no lines) is
// created from /dev/null.
func (p *Patch) Diff(name string) string {
	var b strings.Builder
	if len(p.old.lines) == 0 {
		fmt.Fprintf(&b, "--- /dev/null\n+++ b/%s\n", name)
	} else {
		fmt.Fprintf(&b, "--- a/%s\n+++ b/%s\n", name, name)
	}
	edits := slices.Clone(p.edits)
	slices.SortStableFunc(edits, func(a, b lineEdit) int { return a.at - b.at })
	delta := 0 // lines added minus lines removed before the current hunk
	for len(edits) > 0 {
		n := hunkSize(edits)
		delta = p.writeHunk(&b, edits[:n], delta)
		edits = edits[n:]
	}
	return b.String()
}

// hunkSize is how many of edits go in one hunk: those whose context
// would touch or overlap.
func hunkSize(edits []lineEdit) int {
	n := 1
	for n < len(edits) && edits[n].at-(edits[n-1].at+edits[n-1].del) <= 2*diffContext {
		n++
	}
	return n
}

// writeHunk writes one hunk of edits and returns delta after them.
func (p *Patch) writeHunk(b *strings.Builder, edits []lineEdit, delta int) int {
	old := p.old.lines
	first, last := edits[0], edits[len(edits)-1]
	start := max(first.at-diffContext, 0)
	end := min(last.at+last.del+diffContext, len(old))
	var body strings.Builder
	oldCount, newCount := 0, 0
	next := start
	context := func(upTo int) {
		for ; next < upTo; next++ {
			writeLine(&body, ' ', old[next])
			oldCount++
			newCount++
		}
	}
	newStart := start + delta
	for _, e := range edits {
		context(e.at)
		for _, l := range old[e.at : e.at+e.del] {
			writeLine(&body, '-', l)
		}
		for _, l := range e.add {
			writeLine(&body, '+', l)
		}
		oldCount += e.del
		newCount += len(e.add)
		delta += len(e.add) - e.del
		next = e.at + e.del
	}
	context(end)
	fmt.Fprintf(b, "@@ -%s +%s @@\n", hunkRange(start, oldCount), hunkRange(newStart, newCount))
	b.WriteString(body.String())
	return delta
}

// hunkRange renders a hunk's range: its first line (1-based) and count, or
// for an empty range the line before it.
func hunkRange(start, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}

// writeLine writes one diff line. A line without a line end (the file's
// last) is followed by diff's marker for it.
func writeLine(b *strings.Builder, prefix byte, l string) {
	b.WriteByte(prefix)
	b.WriteString(l)
	if !strings.HasSuffix(l, "\n") {
		b.WriteString("\n\\ No newline at end of file\n")
	}
}
