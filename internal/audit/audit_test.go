package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/testutil"
)

const testRun = "abc123abc123"

func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// writeLog makes a closed log of n events with a checkpoint every 10.
func writeLog(t testing.TB, key ed25519.PrivateKey, n int) []byte {
	return writeLogEvery(t, key, n, 10)
}

func writeLogEvery(t testing.TB, key ed25519.PrivateKey, n int, every uint64) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testRun, key, Options{CheckpointEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := l.Append("net.request", map[string]string{"host": "api.example.com", "n": strconv.Itoa(i)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func verifyBytes(t testing.TB, data []byte, pub ed25519.PublicKey) Report {
	t.Helper()
	r, err := Verify(bytes.NewReader(data), testRun, pub)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUntouchedLogVerifies(t *testing.T) {
	key := testKey(t)
	r := verifyBytes(t, writeLog(t, key, 45), key.Public().(ed25519.PublicKey))
	if len(r.Problems) != 0 || !r.Closed {
		t.Fatalf("clean log: problems %v, closed %v", r.Problems, r.Closed)
	}
	// 45 events, a checkpoint after every 10th entry, and the final one.
	if r.Kinds["net.request"] != 45 || r.Checkpoints != 5 || r.Entries != 50 {
		t.Fatalf("got %d events, %d checkpoints, %d entries; want 45, 5, 50", r.Kinds["net.request"], r.Checkpoints, r.Entries)
	}
}

// mutation changes one thing about a log; it reports what it did.
type mutation func(rng *mrand.Rand, lines [][]byte, data []byte) ([]byte, string)

var mutations = map[string]mutation{
	"flip a byte": func(rng *mrand.Rand, _ [][]byte, data []byte) ([]byte, string) {
		out := bytes.Clone(data)
		i, bit := rng.IntN(len(out)), byte(1)<<rng.IntN(8)
		out[i] ^= bit
		return out, fmt.Sprintf("byte %d ^= %#x", i, bit)
	},
	"delete an entry": func(rng *mrand.Rand, lines [][]byte, _ []byte) ([]byte, string) {
		i := rng.IntN(len(lines))
		return join(append(clone(lines[:i]), lines[i+1:]...)), fmt.Sprintf("line %d", i+1)
	},
	"duplicate an entry": func(rng *mrand.Rand, lines [][]byte, _ []byte) ([]byte, string) {
		i := rng.IntN(len(lines))
		out := append(clone(lines[:i+1]), lines[i:]...)
		return join(out), fmt.Sprintf("line %d", i+1)
	},
	"swap two entries": func(rng *mrand.Rand, lines [][]byte, _ []byte) ([]byte, string) {
		i := rng.IntN(len(lines) - 1)
		j := i + 1 + rng.IntN(len(lines)-i-1)
		out := clone(lines)
		out[i], out[j] = out[j], out[i]
		return join(out), fmt.Sprintf("lines %d and %d", i+1, j+1)
	},
	"truncate": func(rng *mrand.Rand, _ [][]byte, data []byte) ([]byte, string) {
		n := rng.IntN(len(data))
		return data[:n], fmt.Sprintf("to %d bytes", n)
	},
}

func clone(lines [][]byte) [][]byte { return append([][]byte(nil), lines...) }
func join(lines [][]byte) []byte    { return bytes.Join(lines, nil) }

func splitLines(data []byte) [][]byte {
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		lines = append(lines, data[:i+1])
		data = data[i+1:]
	}
	return lines
}

// TestEveryMutationIsDetected is the property test: over many random
// single mutations, verification never reports a clean, closed log, and
// it names where it failed.
func TestEveryMutationIsDetected(t *testing.T) {
	// The seed fixes the key and each mutation (the mutations in name
	// order: a map's order would not repeat); only the entries' times vary.
	rng := testutil.Rand(t)
	var seed [ed25519.SeedSize]byte
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := key.Public().(ed25519.PublicKey)
	rk := writeRunKeyLog(t)
	rkData, _ := os.ReadFile(rk.path)
	for _, log := range []struct {
		data []byte
		pub  ed25519.PublicKey
	}{{writeLog(t, key, 45), pub}, {rkData, rk.user.Public().(ed25519.PublicKey)}} {
		mutateAll(t, rng, log.data, log.pub)
	}
	other := testKey(t).Public().(ed25519.PublicKey)
	r := verifyBytes(t, writeLog(t, key, 45), other)
	if p := r.Tampering(); p == nil || !strings.Contains(p.Reason, "signed by key") {
		t.Fatalf("verifying with another key: got %+v, want a key mismatch", r.Problems)
	}
}

// mutateAll applies many random single mutations to data, a closed log
// signed (through) pub, and fails t if one is not detected.
func mutateAll(t *testing.T, rng *mrand.Rand, data []byte, pub ed25519.PublicKey) {
	lines := splitLines(data)
	const rounds = 3000
	for _, name := range slices.Sorted(maps.Keys(mutations)) {
		mutate := mutations[name]
		for i := 0; i < rounds/len(mutations); i++ {
			mutated, what := mutate(rng, lines, data)
			if bytes.Equal(mutated, data) {
				continue // swapping identical lines cannot happen; a no-op mutation proves nothing
			}
			r := verifyBytes(t, mutated, pub)
			if len(r.Problems) == 0 || r.Closed && r.Tampering() == nil {
				t.Fatalf("%s (%s) was not detected: %+v", name, what, r)
			}
			for _, p := range r.Problems {
				if p.Reason == "" || (p.Kind == Tampered && p.Line == 0) {
					t.Fatalf("%s (%s): problem %+v does not say where or why", name, what, p)
				}
			}
		}
	}
}

func TestTornTailIsReportedAndRepaired(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, _ := Open(path, testRun, key, Options{})
	for i := 0; i < 3; i++ {
		l.Append("event", map[string]string{"i": strconv.Itoa(i)}, true)
	}
	// A writer killed mid-line leaves a partial entry.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	f.WriteString(`{"seq":4,"time":"2026-11-28T10:00:00Z","kind":"eve`)
	f.Close()

	data, _ := os.ReadFile(path)
	r := verifyBytes(t, data, pub)
	if r.Tampering() != nil || r.Entries != 3 || len(r.Problems) != 2 || r.Problems[0].Kind != TornTail || r.Problems[1].Kind != Unclosed {
		t.Fatalf("torn log: got %+v, want 3 good entries, a torn tail and no tampering", r)
	}
	// The next writer drops the partial entry, records that, and goes on.
	l2, _ := Open(path, testRun, key, Options{})
	if _, err := l2.Append("event", nil, true); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	data, _ = os.ReadFile(path)
	r = verifyBytes(t, data, pub)
	if len(r.Problems) != 0 || !r.Closed || r.Kinds[KindTornTail] != 1 {
		t.Fatalf("after repair: got %+v, want a clean closed log with one torn-tail record", r)
	}
}

func TestBundleVerifiesOffline(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	data := writeLog(t, key, 12)
	b, err := NewBundle(bytes.NewReader(data), testRun, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Verify()
	if err != nil || len(r.Problems) != 0 || !r.Closed {
		t.Fatalf("bundle: %v %+v", err, r)
	}
	b.PublicKey = testKeyBase64(t)
	if r, _ := b.Verify(); r.Tampering() == nil {
		t.Fatal("a bundle with its key replaced verified")
	}
}

func testKeyBase64(t *testing.T) string {
	b, _ := NewBundle(bytes.NewReader(nil), testRun, testKey(t).Public().(ed25519.PublicKey), time.Now())
	return b.PublicKey
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load: %v, same key %v", err, k1.Equal(k2))
	}
	fi, err := os.Stat(filepath.Join(dir, privateKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, want 0600", fi.Mode())
	}
}
