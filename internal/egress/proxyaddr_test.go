package egress

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProxyAddressAsIs(t *testing.T) {
	if got, err := ProxyAddress(context.Background(), "10.0.0.7:3128", time.Second); err != nil || got != "10.0.0.7:3128" {
		t.Errorf("%q, %v", got, err)
	}
	if _, err := ProxyAddress(context.Background(), "10.0.0.7", time.Second); err == nil {
		t.Error("an address without a port was taken")
	}
}

// TestProxyAddressFromAFileWrittenLater: the relay may start before the
// adapter knows the proxy's address; it waits for the file.
func TestProxyAddressFromAFileWrittenLater(t *testing.T) {
	file := filepath.Join(t.TempDir(), "proxy-addr")
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.WriteFile(file+".tmp", []byte("10.244.0.9:3128\n"), 0o644)
		os.Rename(file+".tmp", file)
	}()
	start := time.Now()
	got, err := ProxyAddress(context.Background(), file, 5*time.Second)
	if err != nil || got != "10.244.0.9:3128" {
		t.Fatalf("%q, %v", got, err)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("returned after %s, before the file was written", took)
	}
}

func TestProxyAddressFileThatNeverComes(t *testing.T) {
	_, err := ProxyAddress(context.Background(), filepath.Join(t.TempDir(), "none"), 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not come within 100ms") {
		t.Errorf("%v, want the bound named", err)
	}
}
