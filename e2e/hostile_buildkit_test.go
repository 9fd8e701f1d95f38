//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The tests in this file attack the host from the BuildKit sidecar of a
// docker:dind run: from a build's RUN step, which the agent writes, and
// from the agent's side of the shared PID namespace. buildkitd runs as root
// of a user namespace whose root is the agent's user on the host, so root
// in a RUN step must not be root on the host.

// buildkitAttacks runs as root in a RUN step (busybox at /bin/busybox, the
// cache mount at /cache); arguments: the major and minor of the host's
// disk. Each attack prints one "RESULT name: open|blocked|absent: detail"
// line into /out/results, which the build exports to the workspace.
const buildkitAttacks = `mkdir -p /xb /out /tmp && busybox --install -s /xb && PATH=/xb:$PATH
exec >/out/results 2>&1
echo "id: $(id); uid_map: $(cat /proc/self/uid_map | tr -s ' ' | tr '\n' ';')"
try_write() { # name file
	if [ ! -e "$2" ]; then echo "RESULT $1: absent: $2 does not exist on this kernel"; return; fi
	cur=$(cat "$2" 2>&1)
	if out=$(printf '%s\n' "$cur" 2>&1 >"$2"); then echo "RESULT $1: open: wrote '$cur' to $2"; else echo "RESULT $1: blocked: $out"; fi
}
try_write core_pattern /proc/sys/kernel/core_pattern
mount -o remount,rw /proc/sys 2>/dev/null
try_write core_pattern_remount /proc/sys/kernel/core_pattern
mkdir -p /cg
if out=$(mount -t cgroup -o memory cgroup /cg 2>&1) || out=$(mount -t cgroup -o none,name=moat cgroup /cg 2>&1); then
	try_write release_agent /cg/release_agent
else
	echo "RESULT release_agent: blocked: mounting a cgroup v1 hierarchy: $out"
fi
if out=$(mknod /tmp/disk b "$1" "$2" 2>&1); then echo "RESULT mknod: open: made block device $1:$2"; else echo "RESULT mknod: blocked: $out"; fi
rm -f /cache/planted-suid; cp /bin/busybox /cache/planted-suid && chmod 4755 /cache/planted-suid && echo "planted: $(ls -ln /cache/planted-suid)"
echo attacks-done
`

// TestHostileBuildkitBuildStep has a Dockerfile's RUN step attack the host
// through the sidecar: a build that asks for the security.insecure
// entitlement (a RUN step with every privilege) is refused; a plain RUN
// step cannot write core_pattern, mount a cgroup hierarchy or make the
// host's disk device, and the setuid file it plants in its cache mount
// belongs, on the host (in the sidecar's state volume), to the agent's
// uid, not root. The agent, which shares the sidecar's PID namespace, sees
// buildkitd as root of a user namespace mapped onto its own uid.
func TestHostileBuildkitBuildStep(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	busybox, err := os.ReadFile(busyboxPath(t))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	major, minor := (st.Dev>>8)&0xfff, st.Dev&0xff|(st.Dev>>12)&0xfff00
	run := fmt.Sprintf(`RUN --mount=type=cache,target=/cache ["/bin/busybox", "sh", "/attacks.sh", "%d", "%d"]`, major, minor)
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\ndocker: {cache: true}\nmounts: [\"" + buildctlBin + ":/usr/local/bin/buildctl:ro\"]\n",
		"attacks.sh": buildkitAttacks,
		"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nCOPY attacks.sh /attacks.sh\n" + run + "\n",
		"insecure/Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\n" +
			`RUN --security=insecure ["/bin/busybox", "sh", "-c", "/bin/busybox cat /proc/sys/kernel/core_pattern > /proc/sys/kernel/core_pattern && /bin/busybox echo insecure-ran"]` + "\n",
	})
	for _, p := range []string{filepath.Join(ws, "busybox"), filepath.Join(ws, "insecure", "busybox")} {
		if err := os.WriteFile(p, busybox, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(ws, 0o777); err != nil { // the agent (uid 1000) writes the results there
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCacheVolumes(t, ws) })
	corePattern := readHost(t, "/proc/sys/kernel/core_pattern")

	script := strings.Join([]string{
		// buildkitd, seen from the agent (the sidecar shares its PID namespace).
		`for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = buildkitd ] || continue; ` +
			`echo "buildkitd uid_map: $(echo $(cat $p/uid_map) | tr ' ' ,)"; echo "buildkitd $(grep CapEff $p/status)"; done`,
		`buildctl build --frontend dockerfile.v0 --local context=insecure --local dockerfile=insecure ` +
			`--opt build-arg:x=1 --allow security.insecure --progress plain >insecure.log 2>&1 && echo insecure-build-succeeded || echo insecure-build-refused`,
		`buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. --progress plain ` +
			`--output type=local,dest=exported 2>build.log && cat exported/out/results`,
	}, "; ")
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", script)
	t.Log(res.stdout)
	mustContain(t, "stdout", res.stdout, "attacks-done", "buildkitd uid_map:")

	if strings.Contains(res.stdout, "insecure-build-succeeded") {
		insecure, _ := os.ReadFile(filepath.Join(ws, "insecure.log"))
		if strings.Contains(string(insecure), "insecure-ran") {
			t.Errorf("a RUN step with the security.insecure entitlement ran:\n%s", insecure)
		}
	}
	for _, l := range strings.Split(res.stdout, "\n") {
		if rest, ok := strings.CutPrefix(l, "buildkitd uid_map: "); ok {
			if f := strings.Split(rest, ","); len(f) < 3 || f[0] != "0" || f[1] == "0" {
				t.Errorf("buildkitd is host root (uid_map %q), want root of a user namespace mapped onto the agent's uid", rest)
			}
		}
	}

	checkAttacks(t, res, "a RUN step", "core_pattern", "core_pattern_remount", "release_agent", "mknod")
	if got := readHost(t, "/proc/sys/kernel/core_pattern"); got != corePattern {
		t.Errorf("the host's core_pattern changed from %q to %q", corePattern, got)
	}

	vols := dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.role=buildkit-cache", "--filter", "label=moat.workspace="+ws)
	if len(vols) != 1 {
		t.Fatalf("the workspace's BuildKit cache volumes: %v, want one", vols)
	}
	out, err := docker(t, "run", "--rm", "--network", "none", "-v", vols[0]+":/v:ro", baseImage,
		"find", "/v", "-name", "planted-suid", "-printf", "%U %m\n")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("finding the planted file in the sidecar's state volume: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if owner, _, _ := strings.Cut(l, " "); owner != "1000" {
			t.Errorf("the setuid file a RUN step planted in its cache mount belongs to uid %s on the host, want the agent's uid 1000 (%s)", owner, l)
		}
	}
}

// TestHostileBuildkitSidecar checks, through the engine, what the BuildKit
// sidecar's container gets: a short capability list (what moat's helper
// needs to start buildkitd in a user namespace; no NET_ADMIN), a seccomp
// profile rather than none, Docker's /proc and /sys masks, no device, and
// no host file: moat's helper is copied in, not mounted. buildkitd and
// the helper that started it hold no capability on the host.
func TestHostileBuildkitSidecar(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(agentYAML("docker:dind"))
	uid := 1000 // the workspace's owner, whom the agent runs as
	if st, err := os.Stat(ws); err == nil && st.Sys().(*syscall.Stat_t).Uid != 0 {
		uid = int(st.Sys().(*syscall.Stat_t).Uid)
	}
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c",
		`for p in /proc/[0-9]*; do c=$(cat $p/comm 2>/dev/null); case $c in buildkitd|moat) `+
			`echo "proc $c uid_map=$(echo $(cat $p/uid_map) | tr ' ' ,) $(echo $(grep -E '^(CapEff|NoNewPrivs)' $p/status))";; esac; done; sleep 300`)
	r := e.waitState(name, "running")
	t.Cleanup(func() { e.run("stop", name) })
	c := inspectRole(t, r.ID, "buildkit")
	hc := c.HostConfig
	checkConfined(t, "BuildKit sidecar", c, []string{"CAP_CHOWN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN"})
	if len(hc.Devices) != 0 || len(hc.Binds) != 0 {
		t.Errorf("BuildKit sidecar: devices %s, binds %v; want none", hc.Devices, hc.Binds)
	}
	for _, m := range c.Mounts {
		if m.Type != "volume" {
			t.Errorf("BuildKit sidecar mounts %s %s -> %s; want only its state volume", m.Type, m.Source, m.Destination)
		}
	}
	var logs string
	waitFor(t, 60e9, "the agent's view of buildkitd", func() bool {
		logs = e.run("logs", name).stdout
		return strings.Contains(logs, "proc buildkitd")
	})
	t.Log(logs)
	if !strings.Contains(logs, "proc moat ") {
		t.Errorf("the agent does not see moat's helper, buildkitd's parent, in the sidecar:\n%s", logs)
	}
	for _, l := range strings.Split(logs, "\n") {
		rest, ok := strings.CutPrefix(l, "proc ")
		if !ok {
			continue
		}
		comm, _, _ := strings.Cut(rest, " ")
		switch {
		case strings.Contains(rest, "uid_map=0,0,4294967295"):
			if comm == "buildkitd" {
				t.Errorf("buildkitd runs as host root: %s", l)
			} else if !strings.Contains(rest, "CapEff: 0000000000000000") || !strings.Contains(rest, "NoNewPrivs: 1") {
				t.Errorf("moat's helper in the sidecar keeps capabilities on the host or may gain them: %s", l)
			}
		case !strings.Contains(rest, "uid_map=0,"+strconv.Itoa(uid)+",1,"):
			t.Errorf("%s's user namespace is not mapped onto the agent's uid %d: %s", comm, uid, l)
		}
	}
}

// checkConfined checks a container's confinement as the engine applied it:
// not privileged, exactly the capabilities want added to none, a seccomp
// profile of moat's and nothing unconfined, and Docker's /proc and /sys
// masks.
func checkConfined(t *testing.T, what string, c inspected, want []string) {
	t.Helper()
	hc := c.HostConfig
	got := slices.Sorted(slices.Values(hc.CapAdd))
	for i := range got {
		got[i] = "CAP_" + strings.TrimPrefix(got[i], "CAP_")
	}
	if hc.Privileged || !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(got, want) {
		t.Errorf("%s: privileged %v, drop %v, add %v; want drop [ALL], add %v", what, hc.Privileged, hc.CapDrop, got, want)
	}
	var seccomp bool
	for _, o := range hc.SecurityOpt {
		if strings.Contains(o, "unconfined") {
			t.Errorf("%s security option %q", what, o)
		}
		if strings.HasPrefix(o, "seccomp=") && strings.Contains(o, "SCMP_ACT_ERRNO") {
			seccomp = true
		}
	}
	if !seccomp {
		t.Errorf("%s has no seccomp profile of moat's: %v", what, hc.SecurityOpt)
	}
	if len(hc.MaskedPaths) == 0 || !slices.Contains(hc.ReadonlyPaths, "/proc/sys") {
		t.Errorf("%s: masked paths %v, read-only paths %v; want Docker's", what, hc.MaskedPaths, hc.ReadonlyPaths)
	}
}

// checkAttacks reads the "RESULT name: verdict" lines of an attack script's
// output and fails for each of names that reported nothing or worked; an
// attack on a file this kernel lacks is logged as not tested.
func checkAttacks(t *testing.T, res result, from string, names ...string) {
	t.Helper()
	results := map[string]string{}
	for _, l := range strings.Split(res.stdout, "\n") {
		if rest, ok := strings.CutPrefix(l, "RESULT "); ok {
			name, verdict, _ := strings.Cut(rest, ": ")
			results[name] = verdict
		}
	}
	for _, name := range names {
		v, ok := results[name]
		switch {
		case !ok:
			t.Errorf("attack %s reported nothing:\n%s", name, res)
		case strings.HasPrefix(v, "absent:"):
			t.Logf("attack %s NOT TESTED on this kernel: %s", name, strings.TrimPrefix(v, "absent: "))
		case !strings.HasPrefix(v, "blocked:"):
			t.Errorf("attack %s from %s worked: %s", name, from, v)
		default:
			t.Logf("attack %s %s", name, v)
		}
	}
}
