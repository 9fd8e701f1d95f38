//go:build e2e

package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The tests in this file plant, through agent.yaml's env, programs and
// libraries that try to make a workspace file a setuid-root file for the
// host, and check that root in the container (moat-init and what it
// starts) never runs them, while the agent's own process still gets every
// variable. Each planted program or library leaves a marker named after
// itself and the UID it ran as in markers/ (mode 0777: root in the
// container has no CAP_DAC_OVERRIDE, so it could not write elsewhere).

// plant is what each planted program does before it runs the real one.
const plant = `#!/bin/sh
u=$(/usr/bin/id -u)
/usr/bin/touch "/workspace/markers/${0##*/}-uid$u"
if [ "$u" = 0 ]; then /bin/chown 0:0 /workspace/victim; /bin/chmod 4755 /workspace/victim; fi
for d in /usr/sbin /usr/bin /sbin /bin; do [ -x "$d/${0##*/}" ] && exec "$d/${0##*/}" "$@"; done
exit 127
`

// plantedNames are programs moat-init runs, or has run, as root.
var plantedNames = []string{"id", "setpriv", "getent", "cut", "mkdir", "chown", "cat", "stat", "env",
	"mount", "sed", "grep", "tail", "date", "sleep", "timeout", "dirname", "basename", "docker", "dockerd",
	"containerd", "bash", "printf", "echo", "test", "["}

// hostileWorkspace is a workspace owned by uid 1000 (the agent's user)
// with agent.yaml, a victim file, a world-writable markers/ and files.
func (e *moatEnv) hostileWorkspace(agentYAML string, files map[string]string) string {
	e.t.Helper()
	all := map[string]string{"agent.yaml": agentYAML, "victim": "#!/bin/sh\n", "markers/.keep": ""}
	for k, v := range files {
		all[k] = v
	}
	ws := e.workspace(all)
	os.Chmod(filepath.Join(ws, "markers"), 0o777)
	chownTree(e.t, ws, 1000)
	return ws
}

// assertRootRanNothing fails the test if a marker was left by root, or if
// any file in the workspace belongs to root or is setuid on the host.
func assertRootRanNothing(t *testing.T, ws string) {
	t.Helper()
	filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("%v", err)
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%v", err)
			return nil
		}
		rel, _ := filepath.Rel(ws, p)
		if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 || st.Gid == 0 {
			t.Errorf("%s belongs to %d:%d on the host: root in the container ran something the agent planted", rel, st.Uid, st.Gid)
		}
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Errorf("%s is setuid or setgid on the host (mode %v)", rel, fi.Mode())
		}
		if strings.HasSuffix(rel, "-uid0") {
			t.Errorf("marker %s: root in the container ran something the agent planted", rel)
		}
		return nil
	})
}

// markers lists the markers left in ws.
func markers(t *testing.T, ws string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(ws, "markers"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestInitIgnoresAgentPath plants programs in a directory that agent.yaml
// puts first on PATH: moat-init must run none of them as root, while the
// agent's command finds them first. It also checks that no directory on
// root's PATH in moat-init is writable by everyone in the image.
func TestInitIgnoresAgentPath(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	files := map[string]string{}
	for _, n := range plantedNames {
		files[".b/"+n] = plant
	}
	ws := e.hostileWorkspace("env:\n  PATH: /workspace/.b:/usr/bin:/bin\n", files)
	for _, n := range plantedNames {
		os.Chmod(filepath.Join(ws, ".b", n), 0o755)
	}
	res := e.mustRun(0, "run", ws, "--", "/bin/sh", "-c",
		`echo "PATH=$PATH"; echo "found=$(command -v getent)"; `+
			`p=$(/bin/sed -n 's/^root_path=//p' /usr/local/bin/moat-init); echo "root_path=$p"; `+
			`IFS=:; for d in $p; do /usr/bin/stat -L -c 'mode %a %n' "$d"; done`)
	assertRootRanNothing(t, ws)
	mustContain(t, "stdout", res.stdout, "PATH=/workspace/.b:/usr/bin:/bin\n", "found=/workspace/.b/getent\n")
	rootPath := ""
	for _, l := range strings.Split(res.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "root_path="); ok {
			rootPath = v
		}
		if f := strings.Fields(l); len(f) == 3 && f[0] == "mode" {
			if m, err := strconv.ParseUint(f[1], 8, 32); err != nil || m&0o002 != 0 {
				t.Errorf("%s on root's PATH in moat-init is writable by everyone (mode %s)", f[2], f[1])
			}
		}
	}
	if rootPath == "" || strings.Contains(rootPath, "/workspace") {
		t.Errorf("moat-init sets no fixed PATH for root (root_path=%q):\n%s", rootPath, res)
	}
}

// TestInitIgnoresAgentPreload sets LD_PRELOAD in agent.yaml to a library
// whose constructor, run as root, makes the victim setuid root: the
// loader must never load it into a root process, while the agent's own
// processes get the variable (and so load it as the agent).
func TestInitIgnoresAgentPreload(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.hostileWorkspace("env:\n  LD_PRELOAD: /workspace/evil.so\n", map[string]string{"evil.c": `
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((constructor)) static void evil(void) {
	char p[64];
	snprintf(p, sizeof p, "/workspace/markers/preload-uid%d", (int)geteuid());
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0) close(fd);
	if (geteuid() == 0) {
		chown("/workspace/victim", 0, 0);
		chmod("/workspace/victim", 04755);
	}
}
`})
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatal("gcc is needed on the host to build the preload library (apt-get install gcc)")
	}
	so := filepath.Join(ws, "evil.so")
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", so, filepath.Join(ws, "evil.c")).CombinedOutput(); err != nil {
		t.Fatalf("building the preload library: %v\n%s", err, out)
	}
	os.Lchown(so, 1000, 1000)
	res := e.mustRun(0, "run", ws, "--", "/bin/sh", "-c", `echo "LD_PRELOAD=$LD_PRELOAD"`)
	assertRootRanNothing(t, ws)
	mustContain(t, "stdout", res.stdout, "LD_PRELOAD=/workspace/evil.so\n")
	if got := markers(t, ws); !slices.Contains(got, "preload-uid1000") {
		t.Errorf("the agent's process did not load its own LD_PRELOAD (markers %v): the test proves nothing", got)
	}
}

// TestInitIgnoresAgentShellEnv sets BASH_ENV, ENV and IFS in agent.yaml
// for a docker:dind run, whose moat-init runs bash (waiting for the
// BuildKit sidecar) and the nested daemon as root: none of them may change
// what root runs, and the agent's own bash still reads BASH_ENV (bash
// ignores an inherited IFS, so the test reads its initial environment).
func TestInitIgnoresAgentShellEnv(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	script := func(name string) string {
		return "u=$(/usr/bin/id -u); /usr/bin/touch /workspace/markers/" + name + "-uid$u\n" +
			`if [ "$u" = 0 ]; then /bin/chown 0:0 /workspace/victim; /bin/chmod 4755 /workspace/victim; fi` + "\n"
	}
	ws := e.hostileWorkspace("dependencies: [docker:dind]\nenv:\n  BASH_ENV: /workspace/bashenv.sh\n  ENV: /workspace/env.sh\n  IFS: \"/\"\n",
		map[string]string{"bashenv.sh": script("bashenv"), "env.sh": script("env")})
	res := e.mustRun(0, "run", ws, "--", "/bin/bash", "-c", `echo "BASH_ENV=$BASH_ENV ENV=$ENV"; /usr/bin/tr '\0' '\n' </proc/$$/environ | /bin/grep '^IFS='; `+
		`docker version --format 'server {{.Server.Version}}'`)
	assertRootRanNothing(t, ws)
	mustContain(t, "stdout", res.stdout, "BASH_ENV=/workspace/bashenv.sh ENV=/workspace/env.sh\nIFS=/\n", "server ")
	if got := markers(t, ws); !slices.Contains(got, "bashenv-uid1000") {
		t.Errorf("the agent's bash did not read its own BASH_ENV (markers %v): the test proves nothing", got)
	}
}

// TestInitAgentArguments checks how moat-init passes the agent's
// variables on: values reach the agent verbatim (never evaluated by root's
// shell), -e wins over agent.yaml, and a command whose name has "=" in it
// still runs as the command rather than as one more variable.
func TestInitAgentArguments(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	evil := `$(/usr/bin/touch /workspace/markers/subst-uid$(/usr/bin/id -u))` + "`/usr/bin/touch /workspace/markers/tick`; x"
	ws := e.hostileWorkspace("env:\n  EVIL: '"+evil+"'\n  MULTI: \"a b\\n  c\"\n  OVER: yaml\n",
		map[string]string{"x=y.sh": "#!/bin/sh\nprintf 'ran EVIL=%s|MULTI=%s|OVER=%s|%s\\n' \"$EVIL\" \"$MULTI\" \"$OVER\" \"$1\"\n"})
	os.Chmod(filepath.Join(ws, "x=y.sh"), 0o755)
	res := e.mustRun(0, "run", ws, "-e", "OVER=flag", "--", "./x=y.sh", "--")
	assertRootRanNothing(t, ws)
	mustContain(t, "stdout", res.stdout, "ran EVIL="+evil+"|MULTI=a b\n  c|OVER=flag|--\n")
	if got := markers(t, ws); len(got) != 1 {
		t.Errorf("markers %v: a value was evaluated by a shell", got)
	}
}
