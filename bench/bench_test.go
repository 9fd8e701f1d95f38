//go:build e2e

// Package bench measures moat's overhead against the raw Engine API on the
// same machine, in the same process run, so the ratios hold on any machine.
// Run with 'make bench'.
package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

func newManager(b *testing.B) (*run.Manager, *runtime.Docker) {
	b.Helper()
	eng, err := runtime.NewDocker(context.Background())
	if err != nil {
		b.Fatalf("engine: %v (run 'make testbed')", err)
	}
	b.Cleanup(func() { eng.Close() })
	store := &state.Store{Root: b.TempDir()}
	key := func() (ed25519.PrivateKey, error) { return audit.LoadOrCreateKey(store.KeysDir()) }
	return &run.Manager{Engine: eng, Store: store, Version: "bench", SigningKey: key,
		ProxyBinary: buildCLI(b), Grants: benchGrants{},
		// The benchmarks' own workspaces: approved as asked.
		AskApproval: func(run.ApprovalRequest) (bool, error) { return true, nil },
		// The sidecar image 'make testbed' makes (scripts/buildkit.sh).
		BuildkitImage: buildkitImage}, eng
}

// benchGrants holds one http grant, "bench", in memory.
type benchGrants struct{}

func (benchGrants) Get(name string) (grant.Grant, grant.Secret, error) {
	if name != "bench" {
		return grant.Grant{}, grant.Secret{}, &grant.NotFoundError{Name: name}
	}
	g := grant.Grant{Name: "bench", Kind: grant.HTTP, Hosts: []string{"api.bench.test"}, Header: "X-Api-Key"}
	return g, grant.NewSecret([]byte("x")), nil
}

// buildkitImage is the BuildKit sidecar image 'make testbed' makes
// (scripts/buildkit.sh): nothing is pulled.
const buildkitImage = "moat-test/buildkit:v0.34.2"

func workspace(b *testing.B) string {
	dir, err := os.MkdirTemp("", "moat-bench-")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the agent's unprivileged user reads it
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// workspaceWith is a workspace whose agent.yaml holds agentYAML.
func workspaceWith(b *testing.B, agentYAML string) string {
	ws := workspace(b)
	if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte(agentYAML), 0o644); err != nil {
		b.Fatal(err)
	}
	return ws
}

// noNetwork is the agent.yaml of runs without a proxy.
const noNetwork = "network: {policy: none}\n"

// median of durations in milliseconds.
func median(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// BenchmarkWarmRun alternates a warm 'moat run -- true' (image cached) with
// creating, starting, waiting for and removing the same container directly
// through the Engine API, and reports both medians and their ratio. It also
// times the CLI binary, which adds process start and the engine handshake.
// The run has network policy none, so no proxy: this is moat's own cost;
// BenchmarkStrictRun measures the proxy's.
func BenchmarkWarmRun(b *testing.B) {
	ctx := context.Background()
	mgr, eng := newManager(b)
	ws := workspaceWith(b, noNetwork)
	opts := run.Options{Workspace: ws, Command: []string{"true"}, Stdout: io.Discard, Stderr: io.Discard}
	res, err := mgr.Run(ctx, opts) // builds the image if needed, outside the timings
	if err != nil || res.ExitCode != 0 {
		b.Fatalf("first run: %v (exit %d)", err, res.ExitCode)
	}
	spec := directSpec(res.Run, ws)
	cli := mgr.ProxyBinary // the CLI, statically linked
	var moatT, directT, cliT []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if r, err := mgr.Run(ctx, opts); err != nil || r.ExitCode != 0 {
			b.Fatalf("moat run: %v", err)
		}
		moatT = append(moatT, time.Since(start))

		start = time.Now()
		directRun(b, ctx, eng, spec)
		directT = append(directT, time.Since(start))

		start = time.Now()
		runCLI(b, cli, ws, mgr.Store.Root)
		cliT = append(cliT, time.Since(start))
	}
	b.StopTimer()
	m, d, c := median(moatT), median(directT), median(cliT)
	b.ReportMetric(m, "ms/moat-run")
	b.ReportMetric(d, "ms/direct-api")
	b.ReportMetric(c, "ms/moat-cli")
	b.ReportMetric(m/d, "ratio-moat/direct")
	b.ReportMetric(c/d, "ratio-cli/direct")
}

// directSpec is the container moat creates for a run, without moat.
func directSpec(r *state.Run, ws string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Image: r.Image, Cmd: []string{"--", "true"}, WorkingDir: run.WorkspaceTarget, Network: "none",
		Env:    []string{"MOAT_UID=1000", "MOAT_GID=1000"},
		Mounts: []runtime.Mount{{Source: ws, Target: run.WorkspaceTarget}},
		Labels: map[string]string{labels.Managed: "true", labels.RunID: "bench-direct"},
	}
}

func directRun(b *testing.B, ctx context.Context, eng *runtime.Docker, spec runtime.ContainerSpec) {
	id, err := eng.CreateContainer(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.StartContainer(ctx, id); err != nil {
		b.Fatal(err)
	}
	if code, err := eng.WaitContainer(ctx, id); err != nil || code != 0 {
		b.Fatalf("direct run: exit %d, %v", code, err)
	}
	if err := eng.RemoveContainer(ctx, id); err != nil {
		b.Fatal(err)
	}
}

// buildCLI builds moat statically: runs execute it as their proxy sidecar
// and relay.
func buildCLI(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "moat")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/moat")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building moat: %v\n%s", err, out)
	}
	return bin
}

func runCLI(b *testing.B, bin, ws, home string) {
	cmd := exec.Command(bin, "run", ws, "--", "true")
	cmd.Env = append(os.Environ(), "MOAT_HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("moat run: %v\n%s", err, out)
	}
}

// BenchmarkUnchangedRunHashCheck is the cost moat pays on every run to
// learn that the image is current: render the Dockerfile, hash it with the
// init script and the base image's ID, and look the tag up.
func BenchmarkUnchangedRunHashCheck(b *testing.B) {
	ctx := context.Background()
	_, eng := newManager(b)
	plan := image.Plan{Base: run.DefaultBaseImage}
	if _, err := image.Ensure(ctx, eng, plan, image.Options{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := image.Ensure(ctx, eng, plan, image.Options{})
		if err != nil || res.Built {
			b.Fatalf("ensure: built=%v err=%v", res.Built, err)
		}
	}
}

// BenchmarkStrictRun times warm 'moat run -- true' runs (images cached) of
// three workspaces, in turn, rotating which goes first: with network policy
// none (no proxy: the baseline), with the default strict policy and one
// grant (a proxy sidecar, its CA and the grant's secret handed to it, the
// relay in the agent's container), and with policy permissive and no grant
// (a proxy without grants). It reports the medians and the ratios to the
// baseline (issue 5's target: the strict run within 1.3x).
func BenchmarkStrictRun(b *testing.B) {
	ctx := context.Background()
	mgr, _ := newManager(b)
	kinds := []struct{ name, agentYAML string }{
		{"none", noNetwork},
		{"strict-grant", "grants: [bench]\n"},
		{"permissive", "network: {policy: permissive}\n"},
	}
	ws := make([]string, len(kinds))
	for i, k := range kinds { // builds the image if needed, outside the timings
		ws[i] = workspaceWith(b, k.agentYAML)
		var out bytes.Buffer
		res, err := mgr.Run(ctx, run.Options{Workspace: ws[i], Command: []string{"true"}, Stdout: &out, Stderr: &out})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("first %s run: %v (exit %d)\n%s", k.name, err, res.ExitCode, out.String())
		}
		checkEgress(b, res.Run, k.name)
	}
	// The relay in the agent's container reaches the proxy, which asks for
	// its token: the strict run's path works, not only its setup.
	var out bytes.Buffer
	res, err := mgr.Run(ctx, run.Options{Workspace: ws[1], Command: []string{"bash", "-c", proxyProbe}, Stdout: &out, Stderr: &out})
	if err != nil || res.ExitCode != 0 || !strings.HasPrefix(out.String(), "HTTP/1.1 407") {
		b.Fatalf("the strict run's proxy answered %q (exit %d, %v), want 407", out.String(), res.ExitCode, err)
	}
	times := make([][]time.Duration, len(kinds))
	iter := 0
	for b.Loop() {
		for j := range kinds {
			i := (iter + j) % len(kinds)
			start := time.Now()
			res, err := mgr.Run(ctx, run.Options{Workspace: ws[i], Command: []string{"true"}, Stdout: io.Discard, Stderr: io.Discard})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("%s run: %v (exit %d)", kinds[i].name, err, res.ExitCode)
			}
			times[i] = append(times[i], time.Since(start))
		}
		iter++
	}
	b.StopTimer()
	base := median(times[0])
	for i, k := range kinds {
		m := median(times[i])
		b.ReportMetric(m, "ms/"+k.name)
		if i > 0 {
			b.ReportMetric(m/base, "ratio-"+k.name+"/none")
		}
	}
}

// proxyProbe asks the agent's proxy address for a page without the token,
// with bash alone (the base image has no HTTP client), and prints the
// status line.
const proxyProbe = `exec 3<>/dev/tcp/127.0.0.1/3128 && ` +
	`printf 'GET http://api.bench.test/ HTTP/1.1\r\nHost: api.bench.test\r\nConnection: close\r\n\r\n' >&3 && ` +
	`head -c 12 <&3`

// checkEgress fails b unless run r has the proxy its policy calls for.
func checkEgress(b *testing.B, r *state.Run, kind string) {
	b.Helper()
	wantProxy := kind != "none"
	if got := len(r.Sidecars) > 0; got != wantProxy {
		b.Fatalf("%s run: sidecars %v, want a proxy: %v", kind, r.Sidecars, wantProxy)
	}
	if kind == "strict-grant" && (r.Policy != "strict" || !slices.Contains(r.Grants, "bench")) {
		b.Fatalf("strict run: policy %q, grants %v", r.Policy, r.Grants)
	}
}
