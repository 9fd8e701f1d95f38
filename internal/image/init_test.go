package image

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestInitRootPath checks the PATH moat-init runs everything as root with:
// system directories only, never one the agent can write to (the image's
// GOPATH bin is mode 1777, the workspace is the agent's), and set before
// the first command runs.
func TestInitRootPath(t *testing.T) {
	system := []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}
	var rootPath string
	var before []string
	for _, line := range strings.Split(string(InitScript), "\n") {
		if v, ok := strings.CutPrefix(line, "root_path="); ok {
			rootPath = v
			break
		}
		before = append(before, line)
	}
	if rootPath == "" {
		t.Fatal("moat-init sets no root_path")
	}
	for _, dir := range strings.Split(rootPath, ":") {
		if !slices.Contains(system, dir) {
			t.Errorf("root's PATH in moat-init has %q, want only %v", dir, system)
		}
	}
	for _, line := range before {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && l != "set -eu" {
			t.Errorf("moat-init runs %q before it sets root's PATH", l)
		}
	}
	if !bytes.Contains(InitScript, []byte("\nPATH=$root_path\nexport PATH\n")) {
		t.Error("moat-init does not export root_path as its PATH")
	}
}
