//go:build e2e

package bench

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkExec times 'moat exec RUN -- true' into a running run (the
// default strict policy: a proxy sidecar beside it) through the moat
// binary, as users run it, against 'docker exec CONTAINER true' into the
// same container, in alternating order. It reports each one's mean, p50,
// p90 and max and the ratios (issue 18's target: moat exec within 1.2x of
// docker exec). moat's command does more: it finds the run in its store,
// checks the container runs, records an audit event, and drops to the
// agent's user with setpriv in the container.
func BenchmarkExec(b *testing.B) {
	ctx := context.Background()
	mgr, _ := newManager(b)
	cli, home := cliOf(mgr), mgr.Store.Root
	ws := workspace(b)
	name := "bench-exec"
	moatCLI(b, cli, home, "run", "-d", "-n", name, ws, "--", "sleep", "3600")
	b.Cleanup(func() { moatCLI(b, cli, home, "stop", "-t", "0", name) })
	r, err := mgr.Find(ctx, name, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	moatExec := func() { moatCLI(b, cli, home, "exec", name, "--", "true") }
	dockerExec := func() {
		if out, err := exec.Command("docker", "exec", r.ContainerID, "true").CombinedOutput(); err != nil {
			b.Fatalf("docker exec: %v\n%s", err, out)
		}
	}
	moatExec() // the first of each, outside the timings
	dockerExec()
	var moatT, dockerT []time.Duration
	timed := func(f func(), into *[]time.Duration) {
		start := time.Now()
		f()
		*into = append(*into, time.Since(start))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			timed(moatExec, &moatT)
			timed(dockerExec, &dockerT)
		} else {
			timed(dockerExec, &dockerT)
			timed(moatExec, &moatT)
		}
	}
	b.StopTimer()
	m, d := reportStats(b, "moat-exec", moatT), reportStats(b, "docker-exec", dockerT)
	reportRatios(b, "moat/docker", m, d)
}
