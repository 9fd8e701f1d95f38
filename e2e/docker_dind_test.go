//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/testutil"
)

// TestDockerDind checks the agent's private daemon as the unprivileged
// agent: overlay2, no view of the host's containers, an imported image runs,
// a Dockerfile builds, inner containers get the run's proxy settings and
// reach, through the run's proxy, a host the policy allows, and the
// daemon's state volume is gone after the run.
func TestDockerDind(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	addr := bridgeServer(t, "reached-from-inner")
	gw, port, _ := net.SplitHostPort(addr)
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\nnetwork:\n  allow: [\"hostsrv:" + port + "\"]\n  hosts: {hostsrv: " + gw + "}\n",
		"Dockerfile": "FROM tiny:1\nRUN echo built-inside > /built\nCMD cat /built\n",
	})
	writeRootfs(t, filepath.Join(ws, "rootfs.tar"))
	hostName := uniqueName(t)
	if _, err := docker(t, "run", "-d", "--name", hostName, "--label", "moat-e2e=dind", baseImage, "sleep", "300"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker(t, "rm", "-f", hostName) })

	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", strings.Join([]string{
		`id`,
		`echo driver=$(docker info --format '{{.Driver}}')`,
		`echo containers=$(docker ps -aq | wc -l)`,
		`docker import rootfs.tar tiny:1 >/dev/null`,
		`docker run --rm tiny:1 echo inner-run-ok`,
		`DOCKER_BUILDKIT=0 docker build -q -t built:1 . >/dev/null && docker run --rm built:1`,
		`docker run --rm tiny:1 wget -q -O- http://hostsrv:` + port + `/`,
		`docker run --rm tiny:1 sh -c 'echo inner-https-proxy=$HTTPS_PROXY'`,
	}, " && "))
	mustContain(t, "stdout", res.stdout, "driver=overlay2", "containers=0", "inner-run-ok", "built-inside", "reached-from-inner",
		"inner-https-proxy=http://moat:")
	if strings.Contains(res.stdout, hostName) || strings.Contains(res.stdout, "uid=0(") {
		t.Errorf("the agent saw the host's containers or ran as root:\n%s", res.stdout)
	}
	mustContain(t, "stderr", res.stderr, "docker:dind runs a Docker daemon inside this run")

	r := e.find(name)
	if vols := dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.run-id="+r.ID); len(vols) > 0 {
		t.Errorf("the run's dind volume is still there: %v", vols)
	}
	if _, err := os.Stat(filepath.Join(e.runsDir(), r.ID, "dind", "dockerd.log")); err != nil {
		t.Errorf("the inner daemon's log is not kept with the run: %v", err)
	}
}

// TestCleanDockerDindCache checks the opt-in cache: a second run of the same
// workspace finds the image the first one loaded (by ID), and clean --caches
// removes the cache volume. Not parallel, and named TestClean* so that
// 'make test-e2e' runs it after the others: 'moat clean' works engine-wide.
func TestCleanDockerDindCache(t *testing.T) {
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [docker:dind]\ndocker: {cache: true}\n"})
	writeRootfs(t, filepath.Join(ws, "rootfs.tar"))
	os.Chmod(ws, 0o777) // the agent (uid 1000) writes the image ID there
	// Tags do not survive (the agent could re-point them); the image does.
	e.mustRun(0, "run", ws, "--", "sh", "-c", "docker import rootfs.tar cached:1 >/dev/null && docker image inspect -f '{{.Id}}' cached:1 >id")
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", `docker run --rm "$(cat id)" echo from-cache`)
	mustContain(t, "stdout", res.stdout, "from-cache")

	vols := dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.role=dind-cache", "--filter", "label=moat.workspace="+ws)
	if len(vols) != 1 {
		t.Fatalf("got cache volumes %v, want one for the workspace", vols)
	}
	t.Cleanup(func() { docker(t, "volume", "rm", "-f", vols[0]) })
	e.mustRun(0, "clean", "-f")
	if left := dockerIDs(t, "volume", "ls", "-q", "--filter", "name="+vols[0]); len(left) != 1 {
		t.Errorf("clean without --caches removed the cache")
	}
	e.mustRun(0, "clean", "-f", "--caches")
	if left := dockerIDs(t, "volume", "ls", "-q", "--filter", "name="+vols[0]); len(left) != 0 {
		t.Errorf("clean --caches left the cache volume %v", left)
	}
}

// TestDockerDindFailure breaks the inner daemon through the test hook: the
// run fails at once with the daemon's log tail, and leaves no volume.
func TestDockerDindFailure(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	e.env = append(e.env, "MOAT_TEST_DIND_ARGS=--no-such-daemon-flag")
	ws := e.workspace(agentYAML("docker:dind"))
	res := e.run("run", ws, "--", "echo", "must-not-run")
	if res.code != 125 {
		t.Errorf("got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "the Docker daemon exited while starting", "unknown flag: --no-such-daemon-flag")
	if strings.Contains(res.stdout, "must-not-run") {
		t.Errorf("the command ran although the daemon failed")
	}
	r := e.onlyRun()
	if vols := dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.run-id="+r.ID); len(vols) > 0 {
		t.Errorf("the failed run's volume is still there: %v", vols)
	}
}

// writeRootfs writes a tiny busybox root filesystem for 'docker import'.
func writeRootfs(t *testing.T, path string) {
	t.Helper()
	if err := testutil.WriteRootfs(path); err != nil {
		t.Fatal(err)
	}
}

// bridgeAddress is the host's IPv4 address on the default Docker bridge.
func bridgeAddress(t *testing.T) string {
	t.Helper()
	ifc, err := net.InterfaceByName("docker0")
	if err != nil {
		t.Fatalf("finding the Docker bridge: %v", err)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	t.Fatal("the Docker bridge docker0 has no IPv4 address")
	return ""
}

// bridgeServer serves body over HTTP on the host's Docker bridge address,
// which the run's containers reach, and returns host:port.
func bridgeServer(t *testing.T, body string) string {
	t.Helper()
	gw := bridgeAddress(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestDockerDindStopAndStdin checks a detached dind run: 'moat stop' ends
// the agent, the inner daemon shuts down cleanly (its log says so) and the
// run's volume is removed; and an attached run still gets its stdin.
func TestDockerDindStopAndStdin(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(agentYAML("docker:dind"))

	res := e.runInput("through-stdin\n", "run", "-i", ws, "--", "cat")
	if res.code != 0 || res.stdout != "through-stdin\n" {
		t.Errorf("stdin of an attached dind run: got %q (exit %d), want it echoed:\n%s", res.stdout, res.code, res)
	}

	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "600")
	r := e.waitState(name, "running")
	// The log stays in the container while it runs; moat copies it into
	// the run's directory when the run ends.
	logPath := filepath.Join(e.runsDir(), r.ID, "dind", "dockerd.log")
	var seen int
	waitFor(t, waitTimeout, "the inner daemon to be ready", func() bool {
		log, _ := docker(t, "exec", r.ContainerID, "cat", "/var/log/moat-dind/dockerd.log")
		seen = len(log)
		return strings.Contains(log, "API listen on")
	})
	// A generous grace period: this checks that the stop reaches the inner
	// daemon and lets it shut down cleanly, not how fast it does so on a
	// loaded CI machine (once it took over the default 10 s there).
	stop := e.mustRun(0, "stop", "-t", "60", name)
	log, err := os.ReadFile(logPath)
	if !strings.Contains(string(log), "Daemon shutdown complete") {
		entries, _ := os.ReadDir(filepath.Dir(logPath))
		t.Errorf("the inner daemon was not shut down cleanly (%v; %d bytes now, %d when ready; dir %v); its log ends:\n%s\nstop:\n%s",
			err, len(log), seen, entries, tail(string(log), 5), stop)
	}
	if vols := dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.run-id="+r.ID); len(vols) > 0 {
		t.Errorf("the stopped run's volume is still there: %v", vols)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestDockerDindReadyTimeout points the inner daemon at a containerd that
// does not exist, so it never answers: the run fails once
// docker.ready_timeout has passed, not when the daemon gives up (a minute).
func TestDockerDindReadyTimeout(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	// The image first, in a workspace of the same dependencies whose
	// daemon starts with the default patience: the bound below is for the
	// failing start, not for a cold build on a busy machine.
	e.mustRun(0, "run", e.workspace(map[string]string{"agent.yaml": "dependencies: [docker:dind]\n"}), "--", "true")
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [docker:dind]\ndocker: {ready_timeout: 2s}\n"})
	e.env = append(e.env, "MOAT_TEST_DIND_ARGS=--containerd=/run/moat-e2e-no-such-containerd.sock")
	res := e.run("run", ws, "--", "echo", "must-not-run")
	if res.code != 125 {
		t.Errorf("got exit code %d, want 125:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "did not become ready within 2s", "kept with the run as dind/dockerd.log")
	if res.took > 30*time.Second {
		t.Errorf("the run took %s to fail; the timeout is 2s", res.took)
	}
	if strings.Contains(res.stdout, "must-not-run") {
		t.Errorf("the command ran although the daemon never became ready")
	}
}
