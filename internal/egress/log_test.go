package egress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogFileCap checks that the proxy's own log stops at its cap with
// one line saying so, also across reopenings (a log that is already full
// takes nothing more), and that everything before the cap is kept.
func TestLogFileCap(t *testing.T) {
	t.Parallel()
	const limit = 4096
	path := filepath.Join(t.TempDir(), "proxy.log")
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	for range 2 {
		l, err := OpenLog(path, limit, now)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			l.Printf("moat proxy: request %d: dial tcp: connection refused", i)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > limit {
		t.Fatalf("the log is %d bytes, want at most %d", len(data), limit)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	first := "2026-01-02T03:04:05Z moat proxy: request 0: dial tcp: connection refused"
	last := "2026-01-02T03:04:05Z moat proxy: this log reached its cap of 4 KiB; later messages are dropped"
	if lines[0] != first || lines[len(lines)-1] != last || strings.Count(string(data), "reached its cap") != 1 {
		t.Fatalf("got first line %q and last %q, want %q and, once, %q", lines[0], lines[len(lines)-1], first, last)
	}
}
