package factory

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSidecarBeside(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "moat")
	if err := os.WriteFile(self, []byte("moat"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := sidecarBeside(self); got != self {
		t.Errorf("without moat-sidecar: %s, want moat itself (%s)", got, self)
	}
	// A directory of that name is not the program.
	side := filepath.Join(dir, sidecarName)
	if err := os.Mkdir(side, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := sidecarBeside(self); got != self {
		t.Errorf("with a directory named moat-sidecar: %s, want moat itself", got)
	}
	if err := os.Remove(side); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(side, []byte("sidecar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := sidecarBeside(self); got != side {
		t.Errorf("with moat-sidecar beside moat: %s, want %s", got, side)
	}
}

func TestProxyBinaryPrefersTheVariable(t *testing.T) {
	t.Setenv("MOAT_PROXY_BINARY", "/opt/linux/moat")
	if got := proxyBinary(); got != "/opt/linux/moat" {
		t.Errorf("proxyBinary() = %s, want MOAT_PROXY_BINARY's /opt/linux/moat", got)
	}
}
