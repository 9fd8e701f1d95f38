//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
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
	orphan := mustDocker(t, append(append([]string{"create"}, lbl...), baseImage, "true")...)
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
	mustContain(t, "clean --dry-run's list", dry.stderr, kept.ID, orphan[:12], orphanRun, kept.Image)
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
