//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopBound is how long 'moat stop' may take: the 10 s grace period a
// command that ignores SIGTERM gets, plus the engine's own work.
const stopBound = 30 * time.Second

var runIDPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

// TestDetachedRun covers a detached run's life: run -d, logs -f, list,
// stop, logs -n/-t of the saved log, destroy.
func TestDetachedRun(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)

	res := e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c",
		"for i in 1 2 3; do echo line$i; sleep 0.5; done; sleep 600")
	id := strings.TrimSpace(res.stdout)
	if !runIDPattern.MatchString(id) {
		t.Fatalf("run -d printed %q on stdout, want a run ID:\n%s", res.stdout, res)
	}
	e.track(id)
	if ids := e.mustRun(0, "list", "-q").stdout; !strings.Contains(ids, id+"\n") {
		t.Errorf("list -q does not show %s:\n%s", id, ids)
	}

	follower := e.start("logs", "-f", name)
	waitFor(t, waitTimeout, "logs -f to print line3", func() bool {
		return strings.Contains(follower.stdout.String(), "line3\n")
	})

	stop := e.mustRun(0, "stop", name)
	t.Logf("moat stop took %s", stop.took.Round(time.Millisecond))
	if stop.took > stopBound {
		t.Errorf("moat stop took %s, want under %s", stop.took, stopBound)
	}
	if got := strings.TrimSpace(stop.stdout); got != id {
		t.Errorf("stop printed %q, want the run ID %s", got, id)
	}
	fres := follower.wait(waitTimeout)
	if fres.code != 0 || fres.stdout != "line1\nline2\nline3\n" {
		t.Errorf("logs -f: got exit code %d and output %q, want 0 and three lines:\n%s", fres.code, fres.stdout, fres)
	}

	if r := e.find(name); r.State != "stopped" || r.ID != id {
		t.Errorf("list --json shows run %s as %s, want %s stopped", r.ID, r.State, id)
	}
	if got := e.mustRun(0, "logs", "-n", "1", name).stdout; got != "line3\n" {
		t.Errorf("logs -n 1: got %q, want %q", got, "line3\n")
	}
	stamped := e.mustRun(0, "logs", "-t", "-n", "2", id).stdout
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+ line2\n\S+ line3\n$`).MatchString(stamped) {
		t.Errorf("logs -t -n 2: got %q, want two time-stamped lines", stamped)
	}
	if cs := runContainers(t, id); len(cs) > 0 {
		t.Errorf("the stopped run's container is still there: %v", cs)
	}

	e.mustRun(0, "destroy", name)
	if _, err := os.Stat(filepath.Join(e.runsDir(), id)); !os.IsNotExist(err) {
		t.Errorf("destroy left the run directory: %v", err)
	}
}

// TestInterruptAttachedRun checks that Ctrl-C stops the command, removes
// its container, records the run as stopped and exits 130.
func TestInterruptAttachedRun(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)

	p := e.start("run", "-n", name, ws, "--", "sleep", "600")
	r := e.waitState(name, "running")
	p.signal(syscall.SIGINT)
	res := p.wait(stopBound + 10*time.Second)
	if res.code != 130 {
		t.Errorf("got exit code %d, want 130:\n%s", res.code, res)
	}
	if cs := runContainers(t, r.ID); len(cs) > 0 {
		t.Errorf("the interrupted run's container is still there: %v", cs)
	}
	if got := e.records()[r.ID]; got.State != "stopped" {
		t.Errorf("the interrupted run's state is %q, want stopped", got.State)
	}
}

// TestCLICrash checks that a run whose moat process died is finished by
// the next moat command: exit code recorded, logs kept, container removed.
func TestCLICrash(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)

	p := e.start("run", "-n", name, ws, "--", "sh", "-c", "echo before-crash; until [ -e /workspace/release ]; do sleep 0.1; done; exit 5")
	r := e.waitState(name, "running")
	p.signal(syscall.SIGKILL)
	p.wait(waitTimeout)
	if !p.killedBySignal() {
		t.Fatalf("moat ended before it was killed; the test proves nothing:\n%s", p.stderr)
	}
	release(t, ws)
	waitFor(t, waitTimeout, "the orphaned container to exit", func() bool {
		out, err := docker(t, "inspect", "--format", "{{.State.Running}}", r.ContainerID)
		return err == nil && out == "false"
	})

	got := e.find(name)
	if got.State != "exited" || got.exitCode() != "5" {
		t.Errorf("after the crash, list shows state %s, exit code %s; want exited, 5", got.State, got.exitCode())
	}
	if out := e.mustRun(0, "logs", name).stdout; out != "before-crash\n" {
		t.Errorf("logs after the crash: got %q, want %q", out, "before-crash\n")
	}
	if cs := runContainers(t, r.ID); len(cs) > 0 {
		t.Errorf("the finished run's container is still there: %v", cs)
	}
}

// TestNameInUse checks that a running run's name cannot be reused until it
// has been stopped.
func TestNameInUse(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)

	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "600")
	res := e.mustRun(125, "run", "-n", name, ws, "--", "true")
	mustContain(t, "stderr", res.stderr, `"`+name+`"`, "already in use")
	if dirs := e.runDirs(); len(dirs) != 1 {
		t.Errorf("the refused run left a run directory: got %v, want one", dirs)
	}

	e.mustRun(0, "stop", name)
	e.mustRun(0, "destroy", name)
	e.mustRun(0, "run", "-n", name, ws, "--", "true")
}
