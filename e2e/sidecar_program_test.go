//go:build e2e

package e2e

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSidecarProgram checks which program runs moat's commands inside a
// run's containers: moat-sidecar where it lies beside moat (as 'make build'
// leaves it), moat itself where it does not. Either way the agent's proxy
// answers through the relay, and the agent cannot change the program
// (which runs the relay as root in its container, and the next run's
// proxy): the host's file is the same afterwards.
func TestSidecarProgram(t *testing.T) {
	alone := filepath.Join(t.TempDir(), "moat")
	b, err := os.ReadFile(moatBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// The relay's program, mounted where moat-init runs it, says what it
	// is; then a request to the proxy port without the run's token.
	script := `/run/moat/bin/moat --help | head -n 1 && exec 3<>/dev/tcp/127.0.0.1/3128 && ` +
		`printf 'GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n' >&3 && head -c 12 <&3 && echo && ` +
		// The attack: replace, truncate, append to and remove the program.
		`for try in 'cp /bin/sh /run/moat/bin/moat' ': > /run/moat/bin/moat' 'echo x >> /run/moat/bin/moat' ` +
		`'rm -f /run/moat/bin/moat' 'mv /run/moat/bin/moat /tmp/m'; do sh -c "$try" 2>/dev/null && echo "ALLOWED: $try"; done; true`
	for _, tc := range []struct{ name, bin, want string }{
		{"moat-sidecar beside moat", moatBin, "moat-sidecar holds the commands"},
		{"moat alone", alone, "moat runs AI coding agents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			program := tc.bin
			if tc.bin == moatBin {
				program = moatBin + "-sidecar"
			}
			before := fileSum(t, program)
			e := newMoat(t)
			ws := e.workspace(nil)
			res := e.runArgv("", []string{tc.bin, "run", ws, "--", "bash", "-c", script})
			if res.code != 0 {
				t.Fatalf("the run failed:\n%s", res)
			}
			first, rest, _ := strings.Cut(res.stdout, "\n")
			if !strings.HasPrefix(first, tc.want) {
				t.Errorf("the program in the agent's container says %q, want %q", first, tc.want)
			}
			if !strings.HasPrefix(rest, "HTTP/1.1 407") {
				t.Errorf("the proxy answered %q through the relay, want 407 (no token)", rest)
			}
			if strings.Contains(rest, "ALLOWED") {
				t.Errorf("the agent changed the program:\n%s", rest)
			}
			if fileSum(t, program) != before {
				t.Errorf("%s changed on the host during the run", program)
			}
		})
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
