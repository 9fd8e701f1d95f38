//go:build e2e

package bench

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/testutil/fakeapi"
	"github.com/moatsh/moat/internal/testutil/npmreg"
)

// BenchmarkClaudeStart times a warm 'moat claude -- -p ...' (image built,
// workspace approved, grant stored), through the moat binary, from the
// command's start to the first request the real Claude Code makes to a
// fake Anthropic API on the host, and alternates it with the same CLI
// started by hand in a plain container of the same image: 'docker run'
// with host networking, api.anthropic.com mapped to the fake and its CA
// trusted, the same environment, the key in the clear. Both start the CLI
// with the default arguments; the ratio is moat's cost in getting the agent
// to its first request (image check, proxy sidecar, relay, init, state
// mount). The whole runs, to exit, are reported too.
func BenchmarkClaudeStart(b *testing.B) {
	bin := buildCLI(b)
	addr := freeLoopback(b)
	fake, err := fakeapi.NewAnthropic(addr + ":443")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fake.Close() })

	home := b.TempDir()
	if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte("npm_registry: "+agentRegistry(b, "claude-code")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	ws := workspaceWith(b, "agent: claude\ngrants: [anthropic]\nnetwork:\n  hosts: {api.anthropic.com: "+addr+"}\n  ca: api-ca.pem\n")
	caFile := filepath.Join(ws, "api-ca.pem")
	if err := os.WriteFile(caFile, []byte(fake.CAPEM), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Chown(ws, 1000, 1000); err != nil {
		b.Fatal(err)
	}
	moatInput(b, bin, home, fakeapi.AnthropicKey, "grant", "anthropic", "--token-stdin")
	moatCLI(b, bin, home, "trust", "--yes", ws)
	claude := func() { moatCLI(b, bin, home, "claude", ws, "--", "-p", "say hi") }
	claude() // builds the image
	image := lastRunImage(b, home)

	directArgs := []string{"run", "--rm", "--network", "host", "--add-host", "api.anthropic.com:" + addr,
		"-u", "1000:1000", "-v", ws + ":/workspace", "-w", "/workspace", "-v", caFile + ":/etc/api-ca.pem:ro",
		"-e", "NODE_EXTRA_CA_CERTS=/etc/api-ca.pem", "-e", "ANTHROPIC_API_KEY=" + fakeapi.AnthropicKey,
		"-e", "HOME=/home/moat", "-e", "CLAUDE_CONFIG_DIR=/tmp/claude", "-e", "DISABLE_AUTOUPDATER=1", "-e", "DISABLE_TELEMETRY=1",
		"-e", "DISABLE_ERROR_REPORTING=1", "-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"--entrypoint", "claude", image, "--dangerously-skip-permissions", "-p", "say hi"}
	direct := func() {
		if out, err := exec.Command("docker", directArgs...).CombinedOutput(); err != nil {
			b.Fatalf("claude in a plain container: %v\n%s", err, out)
		}
	}
	// The engine's floor for a run of two containers: the same, with a
	// second container of the same image created and started alongside,
	// as moat starts its proxy beside the agent.
	beside := func() {
		name := "moat-bench-beside-" + strconv.Itoa(time.Now().Nanosecond())
		second := exec.Command("docker", "run", "-d", "--rm", "--name", name, "--network", "none", "--entrypoint", "sleep", image, "60")
		if err := second.Start(); err != nil {
			b.Fatal(err)
		}
		direct()
		second.Wait()
		exec.Command("docker", "rm", "-f", name).Run()
	}
	direct() // the same image, warm

	runs := []func(){claude, direct, beside}
	first, whole := [3][]time.Duration{}, [3][]time.Duration{}
	iter := 0
	for b.Loop() {
		for j := range runs {
			i := (iter + j) % len(runs)
			seen := len(fake.Requests())
			start := time.Now()
			runs[i]()
			whole[i] = append(whole[i], time.Since(start))
			reqs := fake.Requests()
			if len(reqs) == seen {
				b.Fatal("the run made no request to the fake API")
			}
			first[i] = append(first[i], reqs[seen].At.Sub(start))
		}
		iter++
	}
	b.StopTimer()
	moatFirst, directFirst := reportStats(b, "claude-moat-first", first[0]), reportStats(b, "claude-direct-first", first[1])
	reportRatios(b, "claude-first-request", moatFirst, directFirst)
	besideFirst := reportStats(b, "claude-beside-first", first[2])
	reportRatios(b, "claude-beside-over-direct-first", besideFirst, directFirst)
	reportRatios(b, "claude-moat-over-beside-first", moatFirst, besideFirst)
	reportRatios(b, "claude-whole", reportStats(b, "claude-moat-whole", whole[0]), reportStats(b, "claude-direct-whole", whole[1]))
}

// freeLoopback is a loopback address whose port 443 is free, for the fake.
func freeLoopback(b *testing.B) string {
	for i := 200; i < 250; i++ {
		addr := "127.0.0." + strconv.Itoa(i)
		if ln, err := net.Listen("tcp", addr+":443"); err == nil {
			ln.Close()
			return addr
		}
	}
	b.Fatal("no loopback address with port 443 free")
	return ""
}

// agentRegistry serves the tests' npm registry (see e2e's npmRegistryFor)
// on the Docker bridge, with entry's tarballs for this machine, fetched
// into the test bed's cache when missing, and returns its URL.
func agentRegistry(b *testing.B, entry string) string {
	e, ok := deps.Lookup(entry)
	if !ok {
		b.Fatalf("%s is not in the dependency registry", entry)
	}
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH]
	var wants []npmreg.Want
	for _, tb := range e.Tarballs[e.Default] {
		if tb.Arch == "" || tb.Arch == arch {
			wants = append(wants, npmreg.Want{Package: tb.Package, Version: tb.Version})
		}
	}
	cache := os.Getenv("MOAT_TESTBED_CACHE")
	if cache == "" {
		userHome, _ := os.UserHomeDir()
		cache = filepath.Join(userHome, ".cache", "moat-testbed")
	}
	cache = filepath.Join(cache, "npm")
	if err := npmreg.Fill(context.Background(), cache, npmreg.DefaultUpstream, wants); err != nil {
		b.Fatal(err)
	}
	ifc, err := net.InterfaceByName("docker0")
	if err != nil {
		b.Fatalf("the Docker bridge: %v", err)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			srv, err := npmreg.Serve(cache, net.JoinHostPort(ipn.IP.String(), "0"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			return srv.URL
		}
	}
	b.Fatal("the Docker bridge has no IPv4 address")
	return ""
}

// lastRunImage is the image of the newest run in the moat home.
func lastRunImage(b *testing.B, home string) string {
	runs, err := (&state.Store{Root: home}).List()
	if err != nil || len(runs) == 0 {
		b.Fatalf("the moat home has no run: %v", err)
	}
	newest := runs[0]
	for _, r := range runs {
		if r.CreatedAt.After(newest.CreatedAt) {
			newest = r
		}
	}
	return newest.Image
}

// moatInput runs the moat binary with stdin as its input.
func moatInput(b *testing.B, bin, home, stdin string, args ...string) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MOAT_HOME="+home)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
