package audit

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The writer helper: when the test binary runs with these variables set,
// TestHelperWriter appends events to the log until told count is reached
// (or forever, for the kill test).
const (
	helperLog   = "MOAT_AUDIT_HELPER_LOG"
	helperKey   = "MOAT_AUDIT_HELPER_KEYDIR"
	helperCount = "MOAT_AUDIT_HELPER_COUNT"
)

func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperLog)
	if path == "" {
		t.Skip("runs only as a child process of the concurrency tests")
	}
	key, err := LoadOrCreateKey(os.Getenv(helperKey))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, testRun, key, Options{CheckpointEvery: 50})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv(helperCount))
	for i := 0; n <= 0 || i < n; i++ {
		if _, err := l.Append("proxy.request", map[string]string{"pid": strconv.Itoa(os.Getpid()), "i": strconv.Itoa(i)}, false); err != nil {
			t.Fatal(err)
		}
	}
}

func startWriter(t *testing.T, path, keyDir string, count int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), helperLog+"="+path, helperKey+"="+keyDir, helperCount+"="+strconv.Itoa(count))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestConcurrentWritersKeepOneChain has three processes (standing in for
// the CLI and the proxy) and goroutines in this one append to the same log
// at once; the chain must hold every entry, unforked.
func TestConcurrentWritersKeepOneChain(t *testing.T) {
	dir := t.TempDir()
	path, keyDir := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "keys")
	key, err := LoadOrCreateKey(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	const perWriter = 400
	var procs []*exec.Cmd
	for i := 0; i < 3; i++ {
		procs = append(procs, startWriter(t, path, keyDir, perWriter))
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Open(path, testRun, key, Options{CheckpointEvery: 50})
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < perWriter; i++ {
				if _, err := l.Append("cli.event", nil, i%50 == 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	l, _ := Open(path, testRun, key, Options{})
	l.Close()
	f, _ := os.Open(path)
	defer f.Close()
	r, err := Verify(f, testRun, key.Public().(ed25519.PublicKey))
	if err != nil || len(r.Problems) != 0 {
		t.Fatalf("after concurrent writes: %v %+v", err, r.Problems)
	}
	if got := r.Kinds["proxy.request"] + r.Kinds["cli.event"]; got != 7*perWriter {
		t.Fatalf("got %d events, want %d: entries were lost", got, 7*perWriter)
	}
}

// TestKilledWriterLeavesAVerifiableLog kills a writer with SIGKILL in the
// middle of its work: the log verifies up to its last complete entry, and
// reports at most a torn tail, never tampering.
func TestKilledWriterLeavesAVerifiableLog(t *testing.T) {
	dir := t.TempDir()
	path, keyDir := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "keys")
	key, err := LoadOrCreateKey(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		w := startWriter(t, path, keyDir, 0)
		// Kill it mid-work, not before it began: a loaded machine can take
		// longer than any fixed delay to start a process.
		waitForEntry(t, path)
		time.Sleep(time.Duration(round*37) * time.Millisecond)
		w.Process.Signal(syscall.SIGKILL)
		w.Wait()
		f, _ := os.Open(path)
		r, err := Verify(f, testRun, key.Public().(ed25519.PublicKey))
		f.Close()
		if err != nil || r.Tampering() != nil || r.Entries == 0 {
			t.Fatalf("round %d: after SIGKILL: %v, %d entries, problems %+v", round, err, r.Entries, r.Problems)
		}
	}
	// The next writer repairs any torn tail and closes the log cleanly.
	l, _ := Open(path, testRun, key, Options{})
	l.Close()
	f, _ := os.Open(path)
	defer f.Close()
	if r, _ := Verify(f, testRun, key.Public().(ed25519.PublicKey)); len(r.Problems) != 0 || !r.Closed {
		t.Fatalf("after the next writer closed it: %+v", r.Problems)
	}
}

// waitForEntry waits until the log at path holds a complete entry.
func waitForEntry(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && bytes.Count(b, []byte("\n")) >= 2 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the writer wrote no entry within a minute")
}
