//go:build e2e

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubeConcurrent is how many runs BenchmarkKubeConcurrentStart starts
// together on each runtime (issue 16: 20).
const kubeConcurrent = 20

// kubeRounds is how many rounds of kubeConcurrent runs it times per
// runtime, alternating, whatever -benchtime says.
const kubeRounds = 2

// BenchmarkKubeConcurrentStart starts kubeConcurrent strict runs together
// through the moat binary, on the test cluster and on the Docker engine of
// the same machine in turn, and times each from 'moat run' to its
// command's first instruction (the command prints the clock first: the
// cluster's node is this machine, so both clocks are one). It reports
// each runtime's mean, p50, p90 and max and the cluster's ratios to
// Docker's. It needs the cluster of scripts/kube-testbed.sh
// (MOAT_TEST_KUBECONFIG) and is skipped without it.
func BenchmarkKubeConcurrentStart(b *testing.B) {
	kc := os.Getenv("MOAT_TEST_KUBECONFIG")
	if kc == "" {
		b.Skip("no test cluster: set MOAT_TEST_KUBECONFIG (scripts/kube-testbed.sh up)")
	}
	mgr, _ := newManager(b)
	cli := cliOf(mgr)
	dockerHome, kubeHome := b.TempDir(), b.TempDir()
	ns := "moat-bench-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	kubectl(b, kc, "create", "namespace", ns)
	b.Cleanup(func() { kubectl(b, kc, "delete", "namespace", ns, "--wait=false") })
	os.WriteFile(filepath.Join(kubeHome, "config.yaml"), []byte("runtime: kubernetes\nregistry: 127.0.0.1:5000\n"+
		"kubernetes: {kubeconfig: "+kc+", namespace: "+ns+"}\n"), 0o644)
	ws := workspaceWith(b, "network: {policy: strict}\n")
	for _, home := range []string{dockerHome, kubeHome} {
		moatCLI(b, cli, home, "trust", "--yes", ws)
		moatCLI(b, cli, home, "run", ws, "--", "true") // image built and pushed, pods' images pulled
	}
	var docker, kube []time.Duration
	round := func(home string) []time.Duration {
		out := make([]time.Duration, kubeConcurrent)
		errs := make(chan error, kubeConcurrent)
		var wg sync.WaitGroup
		for i := range kubeConcurrent {
			wg.Go(func() {
				cmd := exec.Command(cli, "run", ws, "--", "sh", "-c", "date +%s%N")
				cmd.Env = append(os.Environ(), "MOAT_HOME="+home)
				start := time.Now()
				stdout, err := cmd.Output()
				if err != nil {
					var stderr []byte
					if ee, ok := err.(*exec.ExitError); ok {
						stderr = ee.Stderr
					}
					errs <- fmt.Errorf("%s: %v\nstdout: %s\nstderr: %s", home, err, stdout, stderr)
					return
				}
				ns, err := strconv.ParseInt(strings.TrimSpace(string(stdout)), 10, 64)
				if err != nil {
					errs <- fmt.Errorf("the command's clock %q: %v", stdout, err)
					return
				}
				out[i] = time.Unix(0, ns).Sub(start)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatalf("one of %d runs started together: %v", kubeConcurrent, err)
		}
		return out
	}
	for b.Loop() {
		if len(kube) >= kubeRounds*kubeConcurrent {
			continue
		}
		docker = append(docker, round(dockerHome)...)
		kube = append(kube, round(kubeHome)...)
	}
	b.StopTimer()
	reportRatios(b, "kube/docker", reportStats(b, "kube-first-instruction", kube), reportStats(b, "docker-first-instruction", docker))
}

func kubectl(b *testing.B, kubeconfig string, args ...string) {
	b.Helper()
	bin := "kubectl"
	if dir := os.Getenv("MOAT_TEST_KUBE_BIN"); dir != "" {
		bin = filepath.Join(dir, "kubectl")
	}
	if out, err := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput(); err != nil {
		b.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
}
