package audit

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLogCapDropsRequestEvents checks the per-run cap: once the log is
// MaxBytes long, request events (what an agent can make without end) are
// dropped, the writer that dropped them records one log.truncated entry
// with the counts when it lets go, the run's own events and its final
// checkpoint are still written, and the chain verifies with a note.
func TestLogCapDropsRequestEvents(t *testing.T) {
	t.Parallel()
	const limit = 8 << 10
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cli, err := Open(path, testRun, key, Options{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Append(KindRunCreated, map[string]string{"name": "x"}, true); err != nil {
		t.Fatal(err)
	}
	if err := cli.Release(); err != nil {
		t.Fatal(err)
	}
	proxy, err := Open(path, testRun, key, Options{MaxBytes: limit, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(proxy, func(err error) { t.Error(err) })
	const requests = 500
	for i := range requests {
		rec.Record(KindCredentialInjected, map[string]string{"grant": "github", "i": strconv.Itoa(i)})
		rec.Record(KindNetRequest, map[string]string{"host": "example.com", "i": strconv.Itoa(i)})
	}
	rec.Close()
	if err := proxy.Release(); err != nil {
		t.Fatal(err)
	}
	cli, err = Open(path, testRun, key, Options{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Append(KindRunFinished, map[string]string{"state": "exited"}, true); err != nil {
		t.Fatal(err)
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > limit+2048 {
		t.Fatalf("the log is %d bytes, want about %d", fi.Size(), limit)
	}
	r := verifyFile(t, path, key)
	if r.Tampering() != nil || !r.Closed {
		t.Fatalf("got %+v, closed %v; want a closed log that verifies", r.Problems, r.Closed)
	}
	if r.Kinds[KindLogTruncated] != 1 || r.Kinds[KindRunFinished] != 1 || r.Kinds[KindRunCreated] != 1 {
		t.Fatalf("got events %v, want one %s, one run.created and one run.finished", r.Kinds, KindLogTruncated)
	}
	written := r.Kinds[KindNetRequest] + r.Kinds[KindCredentialInjected]
	if written == 0 || written >= 2*requests {
		t.Fatalf("%d request events written, want some but not all %d", written, 2*requests)
	}
	var note string
	for _, p := range r.Problems {
		if p.Kind == Truncated {
			note = p.Reason
		}
	}
	want := strconv.Itoa(2*requests-written) + " request events"
	if !strings.Contains(note, want) || !strings.Contains(note, "8 KiB") {
		t.Fatalf("got note %q, want it to name the cap and %q", note, want)
	}
	desc, err := r.Describe("run x", false)
	if err != nil || !strings.Contains(desc, "TRUNCATED") {
		t.Fatalf("got %q, %v; want OK with TRUNCATED", desc, err)
	}
}

// TestLogCapKeepsRunEvents checks that a log already over its cap still
// takes the run's own events, and that a writer that dropped nothing adds
// no log.truncated entry.
func TestLogCapKeepsRunEvents(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testRun, key, Options{MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{KindRunCreated, KindContainerCreated, KindContainerStarted, KindContainerExited, KindLogsSaved, KindRunFinished} {
		if _, err := l.Append(kind, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r := verifyFile(t, path, key)
	if len(r.Problems) != 0 || r.Entries != 7 || r.Kinds[KindLogTruncated] != 0 {
		t.Fatalf("got %d entries %v, %+v; want 7 entries, no problem", r.Entries, r.Kinds, r.Problems)
	}
}

func verifyFile(t *testing.T, path string, key ed25519.PrivateKey) Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return verifyBytes(t, data, key.Public().(ed25519.PublicKey))
}
