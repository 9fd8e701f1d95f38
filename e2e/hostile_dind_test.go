//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The tests in this file attack the host from containers the agent starts
// with its docker:dind daemon, asking for every privilege the inner daemon
// grants (SYS_ADMIN, no seccomp, no AppArmor, unmasked /proc and /sys):
// root in an inner container must not be root on the host.

// dindAttacks runs as root in an inner container, with the workspace at /w
// and the run's read-only mount at /ro. Every write puts back the value
// already there, so an attack that works changes nothing on the host; each
// prints one "RESULT name: open|blocked|absent: detail" line.
const dindAttacks = `busybox mkdir -p /xb && busybox --install -s /xb && PATH=/xb:$PATH
echo "id: $(id); uid_map: $(cat /proc/self/uid_map | tr -s ' ' | tr '\n' ';')"
try_write() { # name file
	if [ ! -e "$2" ]; then echo "RESULT $1: absent: $2 does not exist on this kernel"; return; fi
	cur=$(cat "$2" 2>&1)
	case $2 in */transparent_hugepage/*) cur=$(sed 's/.*\[\(.*\)\].*/\1/' "$2");; esac
	if out=$(printf '%s\n' "$cur" 2>&1 >"$2"); then echo "RESULT $1: open: wrote '$cur' to $2"; else echo "RESULT $1: blocked: $out"; fi
}
try_write core_pattern /proc/sys/kernel/core_pattern
try_write sysrq /proc/sysrq-trigger
try_write uevent_helper /sys/kernel/uevent_helper
mount -o remount,rw /sys 2>/dev/null
try_write thp /sys/kernel/mm/transparent_hugepage/enabled
mkdir -p /cg
if out=$(mount -t cgroup -o memory cgroup /cg 2>&1) || out=$(mount -t cgroup -o none,name=moat cgroup /cg 2>&1); then
	try_write release_agent /cg/release_agent
else
	echo "RESULT release_agent: blocked: mounting a cgroup v1 hierarchy: $out"
fi
mount -o remount,rw /ro 2>/dev/null || mount -o remount,rw,bind /ro 2>/dev/null
if out=$( (echo pwned >/ro/file) 2>&1); then echo "RESULT remount_ro: open: wrote /ro/file"; else echo "RESULT remount_ro: blocked: $out"; fi
if out=$(mknod /tmp/disk b "$1" "$2" 2>&1); then echo "RESULT mknod: open: made block device $1:$2"; else echo "RESULT mknod: blocked: $out"; fi
rm -f /w/x; cp /xb/busybox /w/x && chmod 4755 /w/x && echo "planted: $(ls -ln /w/x)"
echo attacks-done
`

// TestHostileDindInnerRoot runs dindAttacks in an inner container started
// with every privilege the agent can ask its daemon for, then checks the
// host: core_pattern, the THP knob and the read-only mount's file are
// unchanged, no block device was made, and the setuid file planted on the
// workspace belongs to the agent's user, not root. sysrq-trigger and
// uevent_helper do not exist on every kernel: where they do not, the test
// says so (t.Log) and checks nothing for them.
func TestHostileDindInnerRoot(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e, ws, uid, _ := newMoatAsUser(t, map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\nmounts: [\"./ro:/ro:ro\"]\n",
		"attacks.sh": dindAttacks,
		"ro/file":    "original",
	})
	writeRootfs(t, filepath.Join(ws, "rootfs.tar"))
	os.Chown(filepath.Join(ws, "rootfs.tar"), uid, uid)
	corePattern := readHost(t, "/proc/sys/kernel/core_pattern")
	thp := readHost(t, "/sys/kernel/mm/transparent_hugepage/enabled")
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	major, minor := (st.Dev>>8)&0xfff, st.Dev&0xff|(st.Dev>>12)&0xfff00

	res := e.mustRun(0, "run", ws, "--", "sh", "-c", strings.Join([]string{
		`docker import rootfs.tar tiny:1 >/dev/null`,
		fmt.Sprintf(`docker run --rm --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined `+
			`--security-opt systempaths=unconfined -v /workspace:/w -v /ro:/ro tiny:1 sh /w/attacks.sh %d %d`, major, minor),
	}, " && "))
	mustContain(t, "stdout", res.stdout, "attacks-done")
	checkAttacks(t, res, "an inner container", "core_pattern", "thp", "release_agent", "remount_ro", "mknod", "sysrq", "uevent_helper")
	if got := readHost(t, "/proc/sys/kernel/core_pattern"); got != corePattern {
		t.Errorf("the host's core_pattern changed from %q to %q", corePattern, got)
	}
	if got := readHost(t, "/sys/kernel/mm/transparent_hugepage/enabled"); got != thp {
		t.Errorf("the host's THP setting changed from %q to %q", thp, got)
	}
	if got := readHost(t, filepath.Join(ws, "ro", "file")); got != "original" {
		t.Errorf("the read-only mount's file on the host is now %q", got)
	}
	fi, err := os.Stat(filepath.Join(ws, "x"))
	if err != nil {
		t.Fatalf("the planted file is not on the host: %v\n%s", err, res)
	}
	owner := fi.Sys().(*syscall.Stat_t).Uid
	if owner == 0 || int(owner) != uid {
		t.Errorf("the file an inner container's root planted on the workspace belongs to uid %d on the host (mode %v), want the agent's uid %d",
			owner, fi.Mode(), uid)
	}
}

// readHost reads a host file for a before/after comparison.
func readHost(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s on the host: %v", path, err)
	}
	return string(b)
}

// TestHostileDindContainer checks, through the engine, what a docker:dind
// run's container gets: a short capability list (moat-init's and
// SYS_ADMIN, which moat-init gives up once the daemon answers), a seccomp
// profile rather than none, Docker's /proc and /sys masks, the tun device
// for the daemon's network, and no host file of moat's (its binary is in
// the image). The agent's own process holds no capability.
func TestHostileDindContainer(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(agentYAML("docker:dind"))
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status; echo init-$(grep CapBnd /proc/$PPID/status); docker version >/dev/null && echo agent-docker-ok; sleep 300")
	r := e.waitState(name, "running")
	t.Cleanup(func() { e.run("stop", name) })
	c := inspectRole(t, r.ID, "agent")
	hc := c.HostConfig
	checkConfined(t, "agent container", c, []string{"CAP_CHOWN", "CAP_KILL", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN"})
	if len(hc.Devices) != 1 || !strings.Contains(string(hc.Devices[0]), "/dev/net/tun") {
		t.Errorf("agent container devices %s, want only /dev/net/tun", hc.Devices)
	}
	for _, m := range c.Mounts {
		if m.Source == moatBin || filepath.Base(m.Source) == "moat" || strings.HasPrefix(m.Destination, "/run/moat/bin") {
			t.Errorf("agent container mounts moat's binary: %s -> %s", m.Source, m.Destination)
		}
		if strings.Contains(m.Source, filepath.Join(e.runsDir(), r.ID)) && m.RW {
			t.Errorf("agent container can write the run's directory in moat's home: %s -> %s", m.Source, m.Destination)
		}
	}
	waitFor(t, 60e9, "the agent's output", func() bool {
		return strings.Contains(e.run("logs", name).stdout, "agent-docker-ok")
	})
	logs := e.run("logs", name).stdout
	for _, l := range []string{"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(logs, l) {
			t.Errorf("the agent's process has capabilities, want none (%q):\n%s", l, logs)
		}
	}
	// moat-init is the agent's parent (docker-init, PID 1, starts it and
	// runs nothing else).
	if !strings.Contains(logs, "init-CapBnd: 00000000000001e1") {
		t.Errorf("moat-init keeps more than CHOWN KILL SETGID SETUID SETPCAP (CapBnd 00000000000001e1) once the daemon answers:\n%s", logs)
	}
}

// TestHostileDindDestroy has root in an inner container plant directories
// it owns, with files in them, everywhere the run's container reaches
// under moat's home; 'moat destroy', run as the user, must still remove
// the run's directory.
func TestHostileDindDestroy(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e, ws, uid, _ := newMoatAsUser(t, agentYAML("docker:dind"))
	writeRootfs(t, filepath.Join(ws, "rootfs.tar"))
	os.Chown(filepath.Join(ws, "rootfs.tar"), uid, uid)
	name := uniqueName(t)
	plant := `for d in /run/moat/*/; do chmod 777 "$d" 2>/dev/null; ` +
		`docker run --rm -v "$d":/d tiny:1 sh -c 'mkdir -p /d/planted/sub && echo x >/d/planted/sub/f && chmod 700 /d/planted /d/planted/sub' ` +
		`&& echo "planted in $d"; ` +
		`docker run --rm --user 4242 -v "$d":/d tiny:1 sh -c 'mkdir -p /d/planted2/sub && echo x >/d/planted2/sub/f && chmod 700 /d/planted2' ` +
		`&& echo "planted as 4242 in $d"; done; true`
	res := e.mustRun(0, "run", "-n", name, "--keep", ws, "--", "sh", "-c", "docker import rootfs.tar tiny:1 >/dev/null && "+plant)
	t.Log(res.stdout)
	r := e.find(name)
	dir := filepath.Join(e.runsDir(), r.ID)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the run's directory: %v", err)
	}
	e.mustRun(0, "destroy", name)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("'moat destroy' left the run's directory %s (%v)", dir, err)
	}
}
