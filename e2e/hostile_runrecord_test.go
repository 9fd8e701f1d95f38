//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The proxy sidecar parses hostile traffic; these tests assume it was
// taken over, and do what it could have done to the run's files, then
// use moat as the user would.

// usersContainer starts a container of the user's own (their database,
// say), with no moat label, and a volume of theirs; the test removes both.
func usersContainer(t *testing.T) (id, volume string) {
	t.Helper()
	name := uniqueName(t)
	volume = name + "-data"
	if _, err := docker(t, "volume", "create", "--label", "moat-e2e="+name, volume); err != nil {
		t.Fatal(err)
	}
	id, err := docker(t, "run", "-d", "--name", name, "--label", "moat-e2e="+name, "-v", volume+":/data", baseImage, "sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		docker(t, "rm", "-f", id)
		docker(t, "volume", "rm", "-f", volume)
	})
	return id, volume
}

// assertAlive fails the test unless the user's container runs and their
// volume exists.
func assertAlive(t *testing.T, step, id, volume string) {
	t.Helper()
	if out, err := docker(t, "inspect", "-f", "{{.State.Running}}", id); err != nil || out != "true" {
		t.Fatalf("after %s the user's container is gone or stopped (running %q, %v)", step, out, err)
	}
	if _, err := docker(t, "volume", "inspect", volume); err != nil {
		t.Fatalf("after %s the user's volume is gone: %v", step, err)
	}
}

// rewriteRecord makes run id's record name the user's container as its
// container and a sidecar, and their volume as a volume of the run's.
func (e *moatEnv) rewriteRecord(id, container, volume string) {
	e.t.Helper()
	path := filepath.Join(e.runsDir(), id, "metadata.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		e.t.Fatal(err)
	}
	rec["container_id"] = container
	rec["sidecars"] = []map[string]string{{"role": "proxy", "name": container}, {"role": "buildkit", "name": container}}
	rec["volumes"] = []map[string]string{{"name": volume}}
	raw, _ = json.Marshal(rec)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// TestHostileRecordCannotSteerTheCLI: a run record rewritten to name the
// user's database container and volume must not make moat list (which
// finishes a run whose command ended), moat stop, moat destroy or moat
// clean stop or remove them.
func TestHostileRecordCannotSteerTheCLI(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	db, vol := usersContainer(t)

	// A detached run whose command has ended: the next 'moat list'
	// finishes it, removing the container and volumes its record names.
	ended := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", ended, ws, "--", "true")
	// Read from the record itself: 'moat list' would finish the run (and
	// remove its container) if the command has already ended.
	r := e.recordNamed(ended)
	waitFor(t, waitTimeout, "the run's command to end", func() bool {
		out, _ := docker(t, "inspect", "-f", "{{.State.Running}}", r.ContainerID)
		return out == "false"
	})
	e.rewriteRecord(r.ID, db, vol)
	res := e.mustRun(0, "list")
	assertAlive(t, "moat list", db, vol)
	mustContain(t, "moat list's warnings", res.stderr, "refusing to touch container", "the record may have been rewritten")
	e.mustRun(0, "destroy", ended)
	assertAlive(t, "moat destroy", db, vol)

	// A running run: 'moat stop' stops the container its record names.
	running := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", running, ws, "--", "sleep", "300")
	r = e.waitState(running, "running")
	e.rewriteRecord(r.ID, db, vol)
	res = e.run("stop", running)
	assertAlive(t, "moat stop", db, vol)
	if res.code == 0 || !strings.Contains(res.stderr, "refusing to touch container") {
		t.Errorf("moat stop of a run whose record names another container: exit %d, want a refusal:\n%s", res.code, res)
	}
	e.mustRun(0, "destroy", "-f", running)
	assertAlive(t, "moat destroy -f", db, vol)
}

// TestCleanIgnoresRewrittenRecord is the last part of the attack above:
// 'moat clean' destroys a finished run whose record names the user's
// container and volume, and leaves those alone. (Named TestClean* because
// 'moat clean' removes unused images engine-wide: it runs in the second,
// serial pass of make test-e2e.)
func TestCleanIgnoresRewrittenRecord(t *testing.T) {
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	db, vol := usersContainer(t)
	finished := uniqueName(t)
	e.mustRun(0, "run", "-n", finished, ws, "--", "true")
	e.rewriteRecord(e.find(finished).ID, db, vol)
	e.mustRun(0, "clean", "-f")
	assertAlive(t, "moat clean -f", db, vol)
}

// TestHostileProxyDirLinks: the proxy's directory is the one part of the
// run it can write; links it leaves there in place of its audit log are
// neither read nor written through by moat.
func TestHostileProxyDirLinks(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)
	e.mustRun(0, "run", "-n", name, ws, "--", "true")
	r := e.find(name)

	userFile := filepath.Join(t.TempDir(), "notes.txt")
	const content = "the user's private notes\n"
	if err := os.WriteFile(userFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.runsDir(), r.ID, "proxy")
	for _, f := range []string{"audit.jsonl", "proxy.log"} {
		os.Remove(filepath.Join(dir, f))
		if err := os.Symlink(userFile, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"audit", name}, {"trace", name}, {"logs", name}, {"list", "-a"}, {"destroy", name}} {
		res := e.run(args...)
		if strings.Contains(res.stdout+res.stderr, "private notes") {
			t.Errorf("moat %s printed the file a link in the run's directory points to:\n%s", strings.Join(args, " "), res)
		}
		if args[0] == "audit" || args[0] == "trace" {
			if res.code == 0 || !strings.Contains(res.stderr, "it is a link") {
				t.Errorf("moat %s: exit %d, want a refusal naming the link:\n%s", strings.Join(args, " "), res.code, res)
			}
		}
	}
	if data, err := os.ReadFile(userFile); err != nil || string(data) != content {
		t.Fatalf("the user's file was changed through a link: %q, %v", data, err)
	}
}

// recordNamed returns the record of the run named name as it is on disk,
// without 'moat list' reconciling it.
func (e *moatEnv) recordNamed(name string) runRecord {
	e.t.Helper()
	for _, r := range e.records() {
		if r.Name == name {
			return r
		}
	}
	e.t.Fatalf("no run record named %q", name)
	return runRecord{}
}
