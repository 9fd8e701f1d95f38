//go:build e2e

// Package bench measures moat's overhead against the raw Engine API on the
// same machine, in the same process run, so the ratios hold on any machine.
// Run with 'make bench'.
package bench

import (
	"context"
	"crypto/ed25519"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
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
	return &run.Manager{Engine: eng, Store: store, Version: "bench", SigningKey: key}, eng
}

func workspace(b *testing.B) string {
	dir, err := os.MkdirTemp("", "moat-bench-")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the agent's unprivileged user reads it
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

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
func BenchmarkWarmRun(b *testing.B) {
	ctx := context.Background()
	mgr, eng := newManager(b)
	ws := workspace(b)
	opts := run.Options{Workspace: ws, Command: []string{"true"}, Stdout: io.Discard, Stderr: io.Discard}
	res, err := mgr.Run(ctx, opts) // builds the image if needed, outside the timings
	if err != nil || res.ExitCode != 0 {
		b.Fatalf("first run: %v (exit %d)", err, res.ExitCode)
	}
	spec := directSpec(res.Run, ws)
	cli := buildCLI(b)
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
		Image: r.Image, Cmd: []string{"true"}, WorkingDir: run.WorkspaceTarget,
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

func buildCLI(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "moat")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/moat")
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
