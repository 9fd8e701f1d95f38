//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRunDependenciesAndConfig covers 'moat run' with a real dependency
// set and every agent.yaml field: the tools work, env and mounts apply,
// the default command runs, the image is reused and --rebuild rebuilds.
func TestRunDependenciesAndConfig(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	ws := e.workspace(map[string]string{
		"agent.yaml": `dependencies: [git, jq, make, python]
env:
  FOO: bar
mounts:
  - ./cache:/cache:ro
command: ["make", "test"]
`,
		"Makefile":       "test:\n\t@echo make-test-ran\n",
		"cache/seed.txt": "seed\n",
	})
	// World-writable, so a failed write can only be the read-only mount.
	os.Chmod(filepath.Join(ws, "cache"), 0o777)
	name := uniqueName(t)

	res := e.mustRun(0, "run", "-n", name, "-e", "BAR=baz", ws, "--", "sh", "-c",
		`git --version && jq --version && python --version && make test && echo FOO=$FOO BAR=$BAR && pwd && cat /cache/seed.txt`)
	mustContain(t, "stdout", res.stdout, "git version", "jq-", "Python 3.", "make-test-ran",
		"FOO=bar BAR=baz", "/workspace\n", "seed\n")
	if r := e.find(name); r.State != "exited" || r.exitCode() != "0" {
		t.Errorf("run %s: got state %s, exit code %s; want exited, 0", name, r.State, r.exitCode())
	}

	// No command after --: agent.yaml's command runs, on the same image.
	res = e.mustRun(0, "run", ws)
	mustContain(t, "stdout", res.stdout, "make-test-ran")
	if strings.Contains(res.stderr, "Building image") {
		t.Errorf("the second run built the image again:\n%s", res)
	}

	res = e.run("run", ws, "--", "sh", "-c", "echo no >/cache/new.txt")
	if res.code == 0 {
		t.Errorf("writing into the read-only mount succeeded:\n%s", res)
	}
	mustContain(t, "stderr", res.stderr, "Read-only file system")
	if _, err := os.Stat(filepath.Join(ws, "cache", "new.txt")); err == nil {
		t.Errorf("a file appeared in the read-only mount's source")
	}

	for id := range e.records() {
		df, err := os.ReadFile(filepath.Join(e.runsDir(), id, "Dockerfile"))
		if err != nil {
			t.Errorf("run %s: %v", id, err)
			continue
		}
		mustContain(t, "run "+id+"'s Dockerfile", string(df), "FROM "+baseImage, "git", "jq", "make", "python3")
	}

	res = e.mustRun(0, "run", "--rebuild", ws, "--", "true")
	mustContain(t, "stderr of --rebuild", res.stderr, "Building image")
}

// TestRunExitCodes checks that the command's exit code is moat's, and that
// a command that is missing or not executable gives 127 or 126.
func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	files := agentYAML("")
	files["not-executable.sh"] = "#!/bin/sh\necho should not run\n"
	ws := e.workspace(files)
	tests := []struct {
		name   string
		cmd    []string
		want   int
		stderr string
	}{
		{"zero", []string{"true"}, 0, ""},
		{"one", []string{"sh", "-c", "exit 1"}, 1, ""},
		{"seven", []string{"sh", "-c", "echo to-stderr >&2; exit 7"}, 7, "to-stderr"},
		// Said in moat's words, not env(1)'s ("env: 'x': No such file or
		// directory").
		{"not found", []string{"no-such-command"}, 127, "moat-init: no-such-command: command not found in the run's image"},
		{"missing path", []string{"./no-such-script.sh"}, 127, "moat-init: ./no-such-script.sh: no such file"},
		{"not executable", []string{"./not-executable.sh"}, 126, "moat-init: ./not-executable.sh is not executable"},
		{"a directory", []string{"/tmp"}, 126, "moat-init: /tmp is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := e.run(append([]string{"run", ws, "--"}, tt.cmd...)...)
			if res.code != tt.want {
				t.Errorf("got exit code %d, want %d:\n%s", res.code, tt.want, res)
			}
			mustContain(t, "stderr", res.stderr, tt.stderr)
			if strings.Contains(res.stderr, "env:") {
				t.Errorf("stderr shows env(1)'s words:\n%s", res)
			}
		})
	}
}

// agentUser is the host user the ownership test runs moat as.
const agentUser = "moate2e"

// TestRunAsWorkspaceOwner checks that the command runs with the workspace
// owner's UID and GID, so its files belong to that user on the host, and
// never as root.
func TestRunAsWorkspaceOwner(t *testing.T) {
	t.Parallel()
	needImage(t)
	e, ws, uid, gid := newMoatAsUser(t, agentYAML(""))
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", "id -u; id -g; touch /workspace/made-by-agent")
	if want := fmt.Sprintf("%d\n%d\n", uid, gid); res.stdout != want {
		t.Errorf("got id output %q, want %q", res.stdout, want)
	}
	fi, err := os.Stat(filepath.Join(ws, "made-by-agent"))
	if err != nil {
		t.Fatalf("the agent's file is missing: %v\n%s", err, res)
	}
	if o := fileOwner(fi); o != [2]int{uid, gid} {
		t.Errorf("the agent's file belongs to %d:%d, want %d:%d", o[0], o[1], uid, gid)
	}
}

// newMoatAsUser returns an env that runs moat as a regular user (the
// test's own, or, as root, the host user agentUser in the docker group),
// with a home and a workspace holding files that belong to that user.
func newMoatAsUser(t *testing.T, files map[string]string) (e *moatEnv, ws string, uid, gid int) {
	t.Helper()
	uid, gid, prefix := os.Getuid(), os.Getgid(), []string(nil)
	if uid == 0 {
		uid, gid = ensureUser(t, agentUser)
		prefix = []string{"setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid), "--init-groups"}
	}
	// t.TempDir's parents are root-only; the user needs its own tree.
	root, err := os.MkdirTemp("/var/tmp", "moat-e2e-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	home := filepath.Join(root, "home")
	ws = filepath.Join(root, "ws")
	writeTree(t, home, nil)
	writeTree(t, ws, files)
	for _, p := range []string{root, home, ws, filepath.Join(ws, "agent.yaml")} {
		os.Chmod(p, 0o755)
		if err := os.Lchown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	e = newMoatAt(t, filepath.Join(home, ".moat"))
	for _, p := range []string{e.home, filepath.Join(e.home, "config.yaml")} {
		if err := os.Lchown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	e.prefix = prefix
	e.env = []string{"HOME=" + home, "USER=" + agentUser}
	e.workspaces = append(e.workspaces, ws)
	if _, ok := files["agent.yaml"]; ok {
		e.trust(ws) // as that user, in that user's moat home
	}
	return e, ws, uid, gid
}

// TestRunRootOwnedWorkspace checks that a workspace owned by root does not
// make the command run as root: the agent gets the fallback uid 1000, and
// moat says so. (Only root can make a root-owned workspace: the e2e tests
// run as root, and without it this test fails rather than skip.)
func TestRunRootOwnedWorkspace(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Fatalf("this test makes a root-owned workspace, so it runs as root (uid %d now): run the e2e tests as root", os.Getuid())
	}
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	res := e.mustRun(0, "run", ws, "--", "id", "-u")
	if res.stdout != "1000\n" {
		t.Errorf("got uid %q, want 1000", res.stdout)
	}
	mustContain(t, "stderr", res.stderr, "warning: the workspace "+ws+" belongs to root")
}

// TestRunInteractiveTTY checks -it: the command has a terminal on stdin
// and reads what the user types.
func TestRunInteractiveTTY(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	// script gives moat a pseudo-terminal and feeds it our stdin.
	line := fmt.Sprintf("%s run -it %s -- sh -c 'test -t 0 && echo tty-ok; read x; echo got:$x'", moatBin, ws)
	res := e.runArgv("hello\n", []string{"script", "-qec", line, "/dev/null"})
	if res.code != 0 {
		t.Errorf("got exit code %d, want 0:\n%s", res.code, res)
	}
	mustContain(t, "terminal output", res.stdout, "tty-ok", "got:hello")
}

// ensureUser creates, once per machine, a host user in the docker group
// and returns its UID and GID.
func ensureUser(t *testing.T, name string) (uid, gid int) {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--no-create-home", "--shell", "/bin/sh", "--groups", "docker", name).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	if out, err := exec.Command("usermod", "--append", "--groups", "docker", name).CombinedOutput(); err != nil {
		t.Fatalf("adding %s to the docker group: %v\n%s", name, err, out)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func fileOwner(fi os.FileInfo) [2]int {
	st := fi.Sys().(*syscall.Stat_t)
	return [2]int{int(st.Uid), int(st.Gid)}
}
