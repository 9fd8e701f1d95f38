//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestScriptingListInspectWait drives the scripting commands through the
// binary against a real run, as docker's are: 'moat list' shows active
// runs (-a every run) with --filter and --format, 'moat inspect' prints
// the full record as a JSON array with stable keys, and 'moat wait'
// blocks until the run's command ends and prints its exit code.
func TestScriptingListInspectWait(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)
	id := strings.TrimSpace(e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c",
		"until [ -e /workspace/release ]; do sleep 0.1; done; exit 3").stdout)
	e.track(id)

	// Running: listed by default, by every filter that matches it.
	if got := e.mustRun(0, "list", "-q").stdout; got != id+"\n" {
		t.Errorf("list -q: %q, want the running run's ID", got)
	}
	got := e.mustRun(0, "list", "--filter", "name="+name, "--filter", "workspace="+ws, "--filter", "id="+id[:6],
		"--format", "{{.ID}} {{.State}} {{.CommandLine}}").stdout
	if want := id + " running sh -c until [ -e /workspace/release ]; do sleep 0.1; done; exit 3\n"; got != want {
		t.Errorf("list --filter --format: %q, want %q", got, want)
	}
	table := e.mustRun(0, "list", "--format", `table {{.Name}}\t{{.Status}}`).stdout
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 2 || strings.Fields(lines[0])[0] != "NAME" || strings.Fields(lines[1])[0] != name {
		t.Errorf("list --format table: %q, want a header and the run", table)
	}
	res := e.run("list", "--filter", "colour=red")
	if res.code != 2 || !strings.Contains(res.stderr, "valid keys are exited, id, name, state, status, workspace") {
		t.Errorf("unknown filter key: exit %d, want 2 naming the keys:\n%s", res.code, res)
	}

	rec := inspectOne(t, e, name)
	if rec["id"] != id || rec["state"] != "running" || rec["exit_code"] != nil {
		t.Errorf("inspect while running: id %v state %v exit_code %v", rec["id"], rec["state"], rec["exit_code"])
	}
	for _, key := range []string{"dependencies", "grants", "privileges", "volumes", "sidecars"} {
		if _, ok := rec[key].([]any); !ok {
			t.Errorf("inspect: %s is %v, want a list", key, rec[key])
		}
	}
	res = e.run("inspect", "nosuch-"+name, name)
	var both []map[string]any
	if json.Unmarshal([]byte(res.stdout), &both) != nil || len(both) != 1 || res.code != 1 || !strings.Contains(res.stderr, `no run matches "nosuch-`) {
		t.Errorf("inspect of an unknown and a known run: exit %d, want 1 with the known one printed:\n%s", res.code, res)
	}

	// wait blocks until the command ends, then prints its code.
	waiter := e.start("wait", name)
	release(t, ws)
	if res := waiter.wait(waitTimeout); res.code != 0 || res.stdout != "3\n" {
		t.Fatalf("moat wait: exit %d stdout %q, want 0 and 3:\n%s", res.code, res.stdout, res)
	}
	rec = inspectOne(t, e, name)
	if rec["state"] != "exited" || rec["exit_code"] != float64(3) || rec["finished_at"] == nil {
		t.Errorf("inspect after wait: state %v exit_code %v finished_at %v, want exited, 3 and a time", rec["state"], rec["exit_code"], rec["finished_at"])
	}
	if got := e.mustRun(0, "inspect", "--format", "{{.Status}}", id).stdout; got != "exited (3)\n" {
		t.Errorf("inspect --format: %q", got)
	}
	// Finished: gone from the default list, in -a and under its state.
	if got := e.mustRun(0, "list", "-q").stdout; got != "" {
		t.Errorf("list -q after the run ended: %q, want nothing", got)
	}
	for _, args := range [][]string{{"list", "-aq"}, {"list", "-q", "--filter", "exited=3"}, {"list", "-q", "--filter", "state=exited"}} {
		if got := e.mustRun(0, args...).stdout; got != id+"\n" {
			t.Errorf("%s: %q, want the run", strings.Join(args, " "), got)
		}
	}
	if got := e.mustRun(0, "wait", id).stdout; got != "3\n" {
		t.Errorf("wait on a finished run: %q, want 3", got)
	}
	if res := e.run("wait", "nosuch-"+name); res.code != 1 || res.stdout != "" {
		t.Errorf("wait on an unknown run: exit %d, want 1:\n%s", res.code, res)
	}
}

// inspectOne returns the one record 'moat inspect ref' prints.
func inspectOne(t *testing.T, e *moatEnv, ref string) map[string]any {
	t.Helper()
	res := e.mustRun(0, "inspect", ref)
	var recs []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("moat inspect %s: %v\n%s", ref, err, res)
	}
	return recs[0]
}
