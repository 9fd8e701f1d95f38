//go:build e2e

package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/testutil"
)

// rebuilds is how many cached rebuilds each builder times in one run.
const rebuilds = 5

// BenchmarkBuildkit measures the BuildKit sidecar of docker:dind runs: the
// time from the start of 'moat run' to the command starting with the
// sidecar ready, against the same run with docker.buildkit: false; and a
// cached rebuild of the same Dockerfile through the sidecar (buildctl, the
// docker exporter, 'docker load') against the inner daemon's own builder
// ('docker build'), timed inside one run.
func BenchmarkBuildkit(b *testing.B) {
	ctx := context.Background()
	mgr, _ := newManager(b)
	buildctl := buildctlFromImage(b)
	ws, off := workspace(b), workspace(b)
	yaml := "dependencies: [docker:dind]\nmounts: [\"" + buildctl + ":/usr/local/bin/buildctl:ro\"]\n"
	write(b, filepath.Join(ws, "agent.yaml"), yaml)
	write(b, filepath.Join(off, "agent.yaml"), yaml+"docker: {buildkit: false}\n")
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		b.Fatalf("busybox-static is needed on the host: %v", err)
	}
	write(b, filepath.Join(ws, "busybox"), string(busybox))
	os.Chmod(filepath.Join(ws, "busybox"), 0o755)
	write(b, filepath.Join(ws, "Dockerfile"), "FROM scratch\nCOPY busybox /bin/busybox\n"+
		`RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /data && /bin/busybox seq 1 200000 > /data/numbers"]`+"\n")
	for _, w := range []string{ws, off} { // images built outside the timings
		if _, err := mgr.Run(ctx, run.Options{Workspace: w, Command: []string{"true"}}); err != nil {
			b.Fatal(err)
		}
	}
	var withSidecar, without []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, side := range []struct {
			ws  string
			out *[]time.Duration
		}{{ws, &withSidecar}, {off, &without}} {
			start := time.Now()
			ns, err := strconv.ParseInt(strings.TrimSpace(runCapture(b, mgr, side.ws, `date +%s%N`)), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			*side.out = append(*side.out, time.Unix(0, ns).Sub(start))
		}
	}
	b.StopTimer()
	ready := sidecarReadyTimes(b, mgr)
	b.Logf("sidecar start to ready, every run: %v", ready)
	bk := `buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. --output type=docker,name=bk:1 2>/dev/null | docker load >/dev/null`
	inner := `DOCKER_BUILDKIT=0 docker build -q -t inner:1 . >/dev/null`
	script := bk + " && " + inner + " && " + timed("bk", bk) + " && " + timed("inner", inner)
	out := runCapture(b, mgr, ws, script)
	times := map[string][]time.Duration{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, v, _ := strings.Cut(line, " ")
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("parsing %q: %v", line, err)
		}
		times[name] = append(times[name], time.Duration(ns))
	}
	b.ReportMetric(median(ready), "ms/sidecar-start-to-ready")
	b.ReportMetric(median(withSidecar), "ms/command-start-with-sidecar")
	b.ReportMetric(median(without), "ms/command-start-without")
	b.ReportMetric(median(withSidecar)-median(without), "ms/sidecar-added")
	b.ReportMetric(median(times["bk"]), "ms/cached-rebuild-sidecar")
	b.ReportMetric(median(times["inner"]), "ms/cached-rebuild-inner-daemon")
	b.ReportMetric(median(times["bk"])/median(times["inner"]), "ratio-sidecar/inner")
}

// sidecarReadyTimes reads, from every run's audit log, how long the
// BuildKit sidecar took from its start to answering the BuildKit client.
func sidecarReadyTimes(b *testing.B, mgr *run.Manager) []time.Duration {
	runs, err := mgr.Store.List()
	if err != nil {
		b.Fatal(err)
	}
	var out []time.Duration
	for _, r := range runs {
		raw, _ := os.ReadFile(mgr.Store.Path(r.ID, run.AuditFile))
		for _, line := range strings.Split(string(raw), "\n") {
			if !strings.Contains(line, `"kind":"sidecar.ready"`) || !strings.Contains(line, `"role":"buildkit"`) {
				continue
			}
			_, rest, _ := strings.Cut(line, `"ready_after_ms":"`)
			ms, _, _ := strings.Cut(rest, `"`)
			if v, err := strconv.Atoi(ms); err == nil {
				out = append(out, time.Duration(v)*time.Millisecond)
			}
		}
	}
	if len(out) == 0 {
		b.Fatal("no sidecar.ready events with ready_after_ms")
	}
	return out
}

// timed repeats cmd and prints "name nanoseconds" for each time.
func timed(name, cmd string) string {
	return `for i in $(seq ` + strconv.Itoa(rebuilds) + `); do s=$(date +%s%N); ` + cmd + `; e=$(date +%s%N); echo "` + name + ` $((e - s))"; done`
}

func write(b *testing.B, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

// buildctlFromImage copies the BuildKit client out of the sidecar image.
func buildctlFromImage(b *testing.B) string {
	dir := b.TempDir()
	os.Chmod(dir, 0o755)
	path, err := testutil.CopyFromImage(buildkitImage, "/usr/bin/buildctl", dir)
	if err != nil {
		b.Fatalf("%v (make testbed makes the sidecar image)", err)
	}
	return path
}
