package run

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/image"
)

func TestCachedFileSum(t *testing.T) {
	m, _ := newTestManager(t)
	bin := filepath.Join(t.TempDir(), "moat")
	os.WriteFile(bin, []byte("v1"), 0o755)
	for range 2 {
		got, err := m.cachedFileSum(bin)
		if want, _ := image.FileSum(bin); err != nil || got != want {
			t.Fatalf("got %s, %v; want %s", got, err, want)
		}
	}
	os.WriteFile(bin, []byte("v2"), 0o755)
	os.Chtimes(bin, time.Now(), time.Now().Add(time.Second)) // a new mtime, whatever the clock's grain
	got, _ := m.cachedFileSum(bin)
	if want, _ := image.FileSum(bin); got != want {
		t.Fatalf("after a rewrite: got %s, want %s", got, want)
	}
}
