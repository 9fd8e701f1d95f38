//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestConcurrentRunsBuildOnce starts four runs together on a workspace
// whose image does not exist yet: one builds it, the others wait for that
// build (and say so) instead of building it again, and all run.
func TestConcurrentRunsBuildOnce(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	// A base image name of this test's own makes the run image's tag new
	// (the build itself comes from the engine's cache).
	base := "moat-e2e/base:" + uniqueName(t)
	if _, err := docker(t, "tag", baseImage, base); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker(t, "rmi", base) })
	e.writeConfig("buildkit_image: " + buildkitImageID + "\nbase_image: " + base + "\n")
	ws := e.workspace(agentYAML(""))
	var procs []*proc
	for range 4 {
		procs = append(procs, e.start("run", ws, "--", "true"))
	}
	builds, waits := 0, 0
	var tag string
	for _, p := range procs {
		res := p.wait(cmdTimeout)
		if res.code != 0 {
			t.Fatalf("a concurrent run failed:\n%s", res)
		}
		for _, line := range strings.Split(res.stderr, "\n") {
			if rest, ok := strings.CutPrefix(line, "Building image "); ok {
				builds++
				tag, _, _ = strings.Cut(rest, " ")
			}
			if strings.HasPrefix(line, "Waiting for another moat process building image ") {
				waits++
			}
		}
	}
	if tag != "" {
		t.Cleanup(func() { docker(t, "rmi", tag) })
	}
	if builds != 1 || waits == 0 {
		t.Fatalf("%d builds and %d waits among 4 concurrent runs, want 1 build and the others waiting", builds, waits)
	}
}
