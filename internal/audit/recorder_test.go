package audit

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

func TestRecorderKeepsEveryEventInOneChain(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testRun, key, Options{CheckpointEvery: 100})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(l, func(err error) { t.Error(err) })
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				rec.Record("net.request", map[string]string{"g": strconv.Itoa(g), "i": strconv.Itoa(i)})
			}
		}()
	}
	wg.Wait()
	rec.Close()
	rec.Close() // idempotent
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	r, err := Verify(f, testRun, key.Public().(ed25519.PublicKey))
	if err != nil || len(r.Problems) != 0 || !r.Closed {
		t.Fatalf("%v %+v", err, r.Problems)
	}
	if r.Kinds["net.request"] != 4000 || r.Checkpoints != 41 {
		t.Fatalf("got %d events and %d checkpoints, want 4000 and 41", r.Kinds["net.request"], r.Checkpoints)
	}
}
