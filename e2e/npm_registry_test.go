//go:build e2e

package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/testutil/npmreg"
)

// The tests' npm registry: the real tarballs of the agent CLIs moat
// installs, fetched on the host from the public registry (which
// containers cannot reach) into the test bed's cache, verified, and
// served to image builds on the Docker bridge. Runs point image builds at
// it with config.yaml's npm_registry, as a company points them at its
// mirror.
var npmRegistry struct {
	mu     sync.Mutex
	filled map[string]bool
	srv    *npmreg.Server
}

// npmRegistryFor returns the tests' registry URL, with the tarballs of
// the registry entries named (such as "claude-code") in it at their
// default releases, for the engine's architecture.
func npmRegistryFor(t *testing.T, entries ...string) string {
	t.Helper()
	npmRegistry.mu.Lock()
	defer npmRegistry.mu.Unlock()
	cache := filepath.Join(testbedCache(), "npm")
	var wants []npmreg.Want
	for _, name := range entries {
		if npmRegistry.filled[name] {
			continue
		}
		e, ok := deps.Lookup(name)
		if !ok || e.Method != deps.MethodTarball {
			t.Fatalf("%s is not an agent CLI in the dependency registry", name)
		}
		for _, tb := range e.Tarballs[e.Default] {
			if tb.Arch == "" || tb.Arch == debianArch() {
				wants = append(wants, npmreg.Want{Package: tb.Package, Version: tb.Version})
			}
		}
	}
	if len(wants) > 0 {
		if err := npmreg.Fill(context.Background(), cache, npmreg.DefaultUpstream, wants); err != nil {
			t.Fatalf("filling the tests' npm registry from %s: %v", npmreg.DefaultUpstream, err)
		}
	}
	if npmRegistry.filled == nil {
		npmRegistry.filled = map[string]bool{}
	}
	for _, name := range entries {
		npmRegistry.filled[name] = true
	}
	if npmRegistry.srv == nil {
		srv, err := npmreg.Serve(cache, net.JoinHostPort(bridgeAddress(t), "0"))
		if err != nil {
			t.Fatal(err)
		}
		npmRegistry.srv = srv // serves until the test binary exits
	}
	return npmRegistry.srv.URL
}

// testbedCache is where the test bed keeps slow artefacts, outside the
// clone (scripts/testbed.sh uses the same).
func testbedCache() string {
	if d := os.Getenv("MOAT_TESTBED_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "moat-testbed")
}

func debianArch() string {
	if runtime.GOARCH == "arm64" {
		return "arm64"
	}
	return "amd64"
}
