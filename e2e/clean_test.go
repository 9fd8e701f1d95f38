//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClean covers 'moat clean': --dry-run lists and removes nothing,
// without -f and without a terminal it refuses, -f removes finished runs,
// unused images and orphaned objects.
//
// Not parallel: 'moat clean' removes moat objects engine-wide, including
// other tests' runs and the images they are about to use. Go starts
// parallel tests only after every sequential one has ended, so nothing else
// in this process runs at the same time.
func TestClean(t *testing.T) {
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))

	orphanRun := "e2eorphan-" + uniqueName(t)
	e.track(orphanRun)
	lbl := []string{"--label", "moat.managed=true", "--label", "moat.run-id=" + orphanRun, "--label", "moat.role=agent"}
	orphan := mustDocker(t, append(append([]string{"create", "--name", "moat-" + orphanRun}, lbl...), baseImage, "true")...)
	network := mustDocker(t, append(append([]string{"network", "create"}, lbl...), orphanRun)...)
	volume := mustDocker(t, append(append([]string{"volume", "create"}, lbl...), orphanRun)...)

	name := uniqueName(t)
	e.mustRun(0, "run", "--keep", "-n", name, ws, "--", "echo", "kept")
	kept := e.onlyRun()
	if cs := runContainers(t, kept.ID); len(cs) != 1 {
		t.Fatalf("the --keep run has containers %v, want one", cs)
	}
	objects := map[string][]string{
		"orphaned container":   {"container", "inspect", orphan},
		"orphaned network":     {"network", "inspect", network},
		"orphaned volume":      {"volume", "inspect", volume},
		"kept run container":   {"container", "inspect", kept.ContainerID},
		"the kept run's image": {"image", "inspect", kept.Image},
	}
	runDir := filepath.Join(e.runsDir(), kept.ID)

	dry := e.mustRun(0, "clean", "--dry-run")
	mustContain(t, "clean --dry-run's list", dry.stdout, kept.ID, orphan[:12], orphanRun, kept.Image)
	assertExist(t, "after clean --dry-run", objects, runDir, true)

	refused := e.run("clean")
	if refused.code == 0 {
		t.Errorf("clean without -f and without a terminal succeeded:\n%s", refused)
	}
	mustContain(t, "clean's refusal", refused.stderr, "moat clean -f")
	assertExist(t, "after the refused clean", objects, runDir, true)

	e.mustRun(0, "clean", "-f")
	assertExist(t, "after clean -f", objects, runDir, false)
}

// assertExist checks that every engine object and the run directory exist,
// or that none does.
func assertExist(t *testing.T, when string, objects map[string][]string, runDir string, want bool) {
	t.Helper()
	for what, inspect := range objects {
		if _, err := docker(t, inspect...); (err == nil) != want {
			t.Errorf("%s: %s exists: %v, want %v", when, what, err == nil, want)
		}
	}
	if _, err := os.Stat(runDir); (err == nil) != want {
		t.Errorf("%s: run directory %s exists: %v, want %v", when, runDir, err == nil, want)
	}
}

// mustDocker runs the docker CLI and fails the test on error.
func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCleanLeavesOtherHomesAlone runs 'moat clean' from a second moat home
// while the first has a live run, and beside a container the user created
// from that run's image (which inherits the image's moat labels): clean
// touches none of them.
func TestCleanLeavesOtherHomesAlone(t *testing.T) {
	needImage(t)
	first, second := newMoat(t), newMoat(t)
	ws := first.workspace(agentYAML(""))
	name := uniqueName(t)
	first.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "300")
	r := first.waitState(name, "running")
	t.Cleanup(func() { first.run("stop", name) })
	users := mustDocker(t, "create", "--label", "moat-e2e=users-own", r.Image, "true")
	t.Cleanup(func() { docker(t, "rm", "-f", users) })
	live := runContainers(t, r.ID)
	if len(live) != 2 {
		t.Fatalf("the run has containers %v, want the agent and its proxy", live)
	}

	dry := second.mustRun(0, "clean", "--dry-run")
	for _, s := range append([]string{r.ID, r.Image, users[:12]}, live...) {
		if strings.Contains(dry.stdout+dry.stderr, s) || strings.Contains(dry.stdout+dry.stderr, s[:12]) {
			t.Errorf("clean --dry-run from another home lists %s:\n%s", s, dry)
		}
	}
	second.mustRun(0, "clean", "-f")
	for _, id := range append(live, users) {
		if _, err := docker(t, "container", "inspect", id); err != nil {
			t.Errorf("container %s is gone after another home's clean: %v", id, err)
		}
	}
	if _, err := docker(t, "image", "inspect", r.Image); err != nil {
		t.Errorf("the live run's image is gone: %v", err)
	}
	if got := first.find(name); got.State != "running" {
		t.Errorf("the live run is %s after another home's clean, want running", got.State)
	}
}
