//go:build e2e

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// concurrentRounds is how many rounds BenchmarkConcurrentFirstRuns times,
// whatever -benchtime says: each round is two cold builds of an image with
// packages from Debian's mirror (about 20 s each on the test machines).
const concurrentRounds = 3

// BenchmarkConcurrentFirstRuns times, through the moat binary, one cold
// 'moat run -- true' of a workspace whose image does not exist yet (its
// image and that image's build cache removed first) against ten such runs
// of it started together in one moat home, which must build the image once
// (issue 13's target: within 1.5x of one cold run). It runs
// concurrentRounds rounds of each, alternating, whatever -benchtime says.
func BenchmarkConcurrentFirstRuns(b *testing.B) {
	ctx := context.Background()
	mgr, eng := newManager(b)
	cli, home := cliOf(mgr), mgr.Store.Root
	ws := workspaceWith(b, "dependencies: [git, jq]\nnetwork: {policy: none}\n")
	moatCLI(b, cli, home, "trust", "--yes", ws)
	runCLI(b, cli, ws, home) // builds it, to learn its tag
	tag := checkedRun(b, mgr, ws).Image
	cold := func() {
		b.Helper()
		// The image and the intermediate images of its build go: the
		// next run builds from the base image, packages and all.
		if err := eng.RemoveImage(ctx, tag); err != nil {
			b.Fatalf("removing %s: %v", tag, err)
		}
	}
	var one, ten []time.Duration
	for b.Loop() {
		if len(one) == concurrentRounds {
			continue // -benchtime's other iterations: the rounds are done
		}
		cold()
		start := time.Now()
		runCLI(b, cli, ws, home)
		one = append(one, time.Since(start))

		cold()
		start = time.Now()
		errs := make(chan error, 10)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				cmd := exec.Command(cli, "run", ws, "--", "true")
				cmd.Env = append(os.Environ(), "MOAT_HOME="+home)
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("%v\n%s", err, out)
				}
			})
		}
		wg.Wait()
		ten = append(ten, time.Since(start))
		close(errs)
		for err := range errs {
			b.Fatalf("one of ten runs started together: %v", err)
		}
	}
	b.StopTimer()
	reportRatios(b, "ten/one", reportStats(b, "ten-together", ten), reportStats(b, "one-cold", one))
}
