package audit

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMessagesCountOneInTheSingular: a log of one entry, one byte of a
// torn tail, one missing entry and one entry before tampering are each
// worded in the singular.
func TestMessagesCountOneInTheSingular(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testRun, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append("event", nil, true); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{") // a writer killed after one byte of its entry
	f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := verifyBytes(t, data, pub)
	if got := r.Summary(); !strings.HasPrefix(got, "1 entry, ") || !strings.HasSuffix(got, ", 0 signed checkpoints") {
		t.Errorf("Summary() = %q, want 1 entry and 0 signed checkpoints", got)
	}
	var reasons []string
	for _, p := range r.Problems {
		reasons = append(reasons, p.Reason)
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{"the log ends in a partial entry (1 byte):", "the last 1 entry is not covered by a signature"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems:\n%s\nwant %q", all, want)
		}
	}

	// Entry 2 of a closed log taken out: one entry is missing, and one
	// verifies before it.
	lines := splitLines(writeLog(t, key, 3))
	r = verifyBytes(t, join(append(clone(lines[:1]), lines[2:]...)), pub)
	p := r.Tampering()
	if p == nil || p.Reason != "entry 2 is missing" {
		t.Fatalf("tampering = %+v, want entry 2 is missing", p)
	}
	out, _ := r.Describe("run x", false)
	if !strings.Contains(out, "\n  the 1 entry before it verifies\n") {
		t.Errorf("Describe:\n%s\nwant the 1 entry before it verifies", out)
	}
}
