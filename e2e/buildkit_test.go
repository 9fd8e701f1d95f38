//go:build e2e

package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildkitWorkspace is a docker:dind workspace with the BuildKit client
// mounted in and a Dockerfile that needs no registry: FROM scratch, a
// static busybox from the context, and a RUN with a cache mount.
func (e *moatEnv) buildkitWorkspace(extraYAML string) string {
	e.t.Helper()
	busybox, err := os.ReadFile(busyboxPath(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\nmounts: [\"" + buildctlBin + ":/usr/local/bin/buildctl:ro\"]\n" + extraYAML,
		"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\n" +
			`RUN --mount=type=cache,target=/cache ["/bin/busybox", "sh", "-c", "/bin/busybox echo run >> /cache/runs; /bin/busybox wc -l < /cache/runs > /runs; /bin/busybox echo built-through-buildkit > /out"]` + "\n" +
			`CMD ["/bin/busybox", "sh", "-c", "/bin/busybox cat /out; /bin/busybox echo cache-runs=$(/bin/busybox cat /runs)"]` + "\n",
	})
	if err := os.WriteFile(filepath.Join(ws, "busybox"), busybox, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, p := range []string{ws, filepath.Join(ws, "Dockerfile")} {
		if err := os.Chown(p, 1000, 1000); err != nil { // the agent edits and writes there
			e.t.Fatal(err)
		}
	}
	return ws
}

func busyboxPath(t *testing.T) string {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("busybox-static is needed on the host (make testbed installs it)")
	return ""
}

// buildAndRun builds the workspace's Dockerfile through BUILDKIT_HOST with
// buildctl, loads the result into the run's own daemon and runs it.
const buildAndRun = `buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. ` +
	`--output type=docker,name=bk:1 2>build.log | docker load >/dev/null && docker run --rm bk:1`

// TestBuildkitSidecar runs a real BuildKit client in a docker:dind run: it
// reaches the sidecar through BUILDKIT_HOST without configuration, builds
// a Dockerfile with a cache mount (twice: the second build reuses the cache
// mount's content), loads the image into the run's own daemon and runs it.
// The sidecar and its state are gone after the run; its events and
// privileges are in the audit log.
func TestBuildkitSidecar(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.buildkitWorkspace("")
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", strings.Join([]string{
		`echo host=$BUILDKIT_HOST`,
		`buildctl debug workers >/dev/null && echo workers-ok`,
		buildAndRun,
		`sed -i 's/run >>/again >>/' Dockerfile`, // a changed step, the same cache mount
		buildAndRun,
	}, " && "))
	mustContain(t, "stdout", res.stdout, "host=tcp://buildkit:1234", "workers-ok", "built-through-buildkit", "cache-runs=1", "cache-runs=2")

	r := e.find(name)
	if left := runContainers(t, r.ID); len(left) > 0 {
		t.Errorf("containers left after the run: %v", left)
	}
	if vols := dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.run-id="+r.ID); len(vols) > 0 {
		t.Errorf("volumes left after the run: %v", vols)
	}
	raw, _ := os.ReadFile(filepath.Join(e.runsDir(), r.ID, "proxy", "audit.jsonl"))
	for _, want := range []string{`"role":"buildkit"`, `"kind":"sidecar.ready"`, "SYS_ADMIN", `"elevation_reason":"docker:dind (BuildKit)"`} {
		if strings.Count(string(raw), want) == 0 {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if _, err := os.Stat(filepath.Join(e.runsDir(), r.ID, "buildkit", "buildkitd.log")); err != nil {
		t.Errorf("the sidecar's log is not kept with the run: %v", err)
	}
	e.mustRun(0, "audit", name)
}

// TestBuildkitSidecarFailures checks the errors: agent.yaml cannot name
// the sidecar's image (the workspace is the agent's); an image the engine
// lacks (and cannot pull) is named with the way to provide it, before
// anything starts; a sidecar whose daemon dies fails the run with its
// log's tail.
func TestBuildkitSidecarFailures(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.untrustedWorkspace(map[string]string{"agent.yaml": "dependencies: [docker:dind]\ndocker: {buildkit_image: \"" + baseImage + "\"}\n"})
	res := e.mustRun(125, "run", ws, "--", "echo", "should-not-run")
	mustContain(t, "stderr", res.stderr, "agent.yaml:2:10: docker.buildkit_image: the BuildKit sidecar's image is set only in your own configuration",
		"~/.moat/config.yaml")

	absent := "moat-test/absent@sha256:" + strings.Repeat("0", 64)
	e.writeConfig("buildkit_image: " + absent + "\n")
	ws = e.workspace(agentYAML("docker:dind"))
	res = e.mustRun(125, "run", ws, "--", "true")
	mustContain(t, "stderr", res.stderr, absent+" is not in the engine", "docker load", "buildkit: false")

	// The base image has no buildkitd: the sidecar's daemon cannot start.
	base, err := imageID(baseImage)
	if err != nil {
		t.Fatal(err)
	}
	e.writeConfig("buildkit_image: " + base + "\n")
	res = e.mustRun(125, "run", ws, "--", "echo", "should-not-run")
	mustContain(t, "stderr", res.stderr, "BuildKit sidecar did not become ready: it exited", "buildkitd")
	if strings.Contains(res.stdout, "should-not-run") {
		t.Errorf("the command ran without its sidecar:\n%s", res)
	}
	if recs := e.records(); len(recs) != 0 {
		t.Errorf("a run that never started left records: %v", recs)
	}
}

// TestBuildkitSidecarLifecycle creates and destroys detached docker:dind
// runs in a row: the sidecar is up while each runs, and nothing (container,
// volume, network) is left behind by any of them.
func TestBuildkitSidecarLifecycle(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(agentYAML("docker:dind"))
	cycles := 20
	if testing.Short() {
		cycles = 3
	}
	for i := 0; i < cycles; i++ {
		name := uniqueName(t) + "-" + strconv.Itoa(i)
		e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "300")
		r := e.find(name)
		if i == 0 {
			waitFor(t, 60*time.Second, "the BuildKit sidecar", func() bool {
				return len(dockerIDs(t, "ps", "-q", "--filter", "label=moat.run-id="+r.ID, "--filter", "label=moat.role=buildkit")) == 1
			})
		}
		e.mustRun(0, "destroy", "-f", name)
		if left := append(runContainers(t, r.ID), dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.run-id="+r.ID)...); len(left) > 0 {
			t.Fatalf("cycle %d: objects left after destroy: %v", i, left)
		}
	}
	if left := dockerIDs(t, "ps", "-aq", "--filter", "label=moat.workspace="+ws); len(left) > 0 {
		t.Errorf("containers left for the workspace: %v", left)
	}
}

// TestCleanBuildkitAfterCLICrash kills the CLI in the middle of a
// docker:dind run: the agent and its sidecar end by themselves, and
// 'moat clean' then leaves no object of the run behind. Named TestClean*
// so that it runs in the pass after the others ('moat clean' works
// engine-wide).
func TestCleanBuildkitAfterCLICrash(t *testing.T) {
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(agentYAML("docker:dind"))
	name := uniqueName(t)
	p := e.start("run", "-n", name, ws, "--", "sh", "-c", "until [ -e /workspace/release ]; do sleep 0.1; done; exit 0")
	r := e.waitState(name, "running")
	waitFor(t, 60*time.Second, "the BuildKit sidecar", func() bool {
		return len(dockerIDs(t, "ps", "-q", "--filter", "label=moat.run-id="+r.ID, "--filter", "label=moat.role=buildkit")) == 1
	})
	p.signal(syscall.SIGKILL)
	p.wait(waitTimeout)
	release(t, ws)
	waitFor(t, 60*time.Second, "the agent's end", func() bool {
		return len(dockerIDs(t, "ps", "-q", "--filter", "label=moat.run-id="+r.ID, "--filter", "label=moat.role=agent")) == 0
	})
	e.mustRun(0, "clean", "-f")
	left := append(runContainers(t, r.ID), dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.run-id="+r.ID)...)
	if len(left) > 0 {
		t.Errorf("objects of the crashed run left after clean: %v", left)
	}
}

// TestBuildkitMoatInsideMoat runs moat inside a docker:dind run (the same
// binary, mounted in): it builds the inner run's image through the run's
// BuildKit sidecar (BUILDKIT_HOST), loads it into the run's own daemon and
// runs it. The base image comes from the test registry on the host's
// loopback (scripts/registry.sh), which the outer run reaches through its
// proxy as registry.test over plain HTTP.
func TestBuildkitMoatInsideMoat(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	mirror := baseImageMirrorHost(t)
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\n" +
			"docker: {insecure_registries: [\"registry.test:5000\"]}\n" +
			"network:\n  allow: [\"" + mirror + "\"]\n  hosts: {registry.test: 127.0.0.1" + mirrorMapping(t, mirror) + "}\n" +
			"mounts: [\"" + moatBin + ":/usr/local/bin/moat:ro\", \"" + buildctlBin + ":/usr/local/bin/buildctl:ro\"]\n",
		"inner/agent.yaml": "network: {policy: none}\n",
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	base := "registry.test:5000/" + baseImage
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", strings.Join([]string{
		`docker pull -q ` + base + ` >/dev/null`,
		`mkdir -p /tmp/inner-home && echo "base_image: ` + base + `" > /tmp/inner-home/config.yaml`,
		`MOAT_HOME=/tmp/inner-home moat run ./inner -- echo inner-run-ok`,
		// The image was built by the sidecar: its cache holds the steps.
		`buildctl du --verbose | grep -q 'apt-get update' && echo built-by-sidecar`,
	}, " && "))
	mustContain(t, "stdout", res.stdout, "inner-run-ok", "built-by-sidecar")
	mustContain(t, "stderr", res.stderr, "Built image moat/run:")
}

// baseImageMirrorHost is the host of the Debian mirror the base image's
// apt uses, which the run's policy must allow for builds to install.
func baseImageMirrorHost(t *testing.T) string {
	out, err := docker(t, "run", "--rm", baseImage, "sh", "-c", "cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null; true")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(out) {
		if rest, ok := strings.CutPrefix(f, "http://"); ok {
			host, _, _ := strings.Cut(rest, "/")
			return host
		}
	}
	t.Fatalf("no http mirror in the base image's apt sources:\n%s", out)
	return ""
}

// mirrorMapping maps the Debian mirror's name to the address it has here
// (", name: addr" for network.hosts): on the test machines the mirror
// answers at an address in 203.0.113.0/24, documentation space, which the
// policy refuses to a name rule alone, as it should.
func mirrorMapping(t *testing.T, mirror string) string {
	addrs, err := net.LookupHost(mirror)
	if err != nil || len(addrs) == 0 {
		t.Fatalf("resolving the Debian mirror %s: %v", mirror, err)
	}
	return ", " + mirror + ": " + addrs[0]
}

// fakeBuildx stands in for the docker CLI's buildx plugin, which Debian
// does not package and Docker's repository cannot be reached from here: a
// real CLI plugin (the docker CLI finds and runs it) that records the
// builders it is asked to create.
const fakeBuildx = `#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
	echo '{"SchemaVersion":"0.1.0","Vendor":"moat e2e","Version":"v0.0.0","ShortDescription":"stand-in for buildx"}'
	exit 0
fi
shift
case "$1" in
version) echo "github.com/docker/buildx v0.0.0-stand-in" ;;
create) echo "$* HOME=$HOME uid=$(id -u)" >>/tmp/buildx-create.log ;;
esac
`

// TestBuildkitBuildxBuilder checks that where the docker CLI has buildx,
// moat-init registers the sidecar as the agent's default remote builder.
func TestBuildkitBuildxBuilder(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	plugin := filepath.Join(t.TempDir(), "docker-buildx")
	if err := os.WriteFile(plugin, []byte(fakeBuildx), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(plugin), 0o755)
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [docker:dind]\n" +
		"mounts: [\"" + plugin + ":/usr/local/lib/docker/cli-plugins/docker-buildx:ro\"]\n"})
	res := e.mustRun(0, "run", ws, "--", "cat", "/tmp/buildx-create.log")
	mustContain(t, "stdout", res.stdout, "create --name moat --driver remote --use tcp://buildkit:1234", "uid=")
	if strings.Contains(res.stdout, "uid=0") {
		t.Errorf("the builder was registered as root, not as the agent:\n%s", res.stdout)
	}
}
