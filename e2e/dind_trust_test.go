//go:build e2e

package e2e

import (
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hgetSource is a static HTTPS client for inner containers, which have no
// curl: Go's, with the proxy from HTTPS_PROXY and the roots from
// SSL_CERT_FILE or the system bundle, as any Go program gets them.
const hgetSource = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	res, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Println("hget error:", err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(res.Body)
	fmt.Printf("hget %d %s", res.StatusCode, b)
}
`

// buildHget compiles hgetSource to path.
func buildHget(t *testing.T, path string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hget\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(hgetSource), 0o644)
	cmd := exec.Command("go", "build", "-o", path, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building hget: %v\n%s", err, out)
	}
}

// TestDindInnerContainersTrustTheProxy: in a docker:dind run, a container
// the agent starts from an image that knows nothing of moat reaches an
// allowed host over HTTPS through the run's proxy, which opens its TLS,
// and the grant's credential is put on its request: the inner daemon's
// runtime made the container trust the run's CA. The image keeps nothing
// of it.
func TestDindInnerContainersTrustTheProxy(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{egressSecret: "granted"})
	e.grantAPI(s, "testapi", egressSecret)
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\ngrants: [testapi]\nnetwork:\n  hosts: {api.test: 127.0.0.1}\n  ca: api-ca.pem\n",
		"api-ca.pem": s.caPEM,
	})
	writeRootfs(t, filepath.Join(ws, "rootfs.tar"))
	buildHget(t, filepath.Join(ws, "hget"))
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", strings.Join([]string{
		`docker import rootfs.tar tiny:1 >/dev/null`,
		`docker run --rm -v /workspace/hget:/hget:ro tiny:1 /hget https://api.test:` + s.port + `/hello`,
		`echo`,
		`docker run --rm tiny:1 sh -c 'echo inner-env=$SSL_CERT_FILE'`,
		`docker run --rm -e SSL_CERT_FILE=/mine.pem tiny:1 sh -c 'echo own-env=$SSL_CERT_FILE'`,
	}, " && "))
	mustContain(t, "stdout", res.stdout, "hget 200 api-ok granted", "inner-env=/dev/moat-ca-bundle.crt", "own-env=/mine.pem")
	if got := s.seenLabels(); len(got) != 1 || got[0] != "granted" {
		t.Errorf("the server saw %v, want one request with the granted key", got)
	}
	trace := e.mustRun(0, "trace", name, "--json").stdout
	mustContain(t, "trace", trace, `"path": "/hello"`, `"grant": "testapi"`)
}

// TestBuildkitStepsTrustTheProxy: a BuildKit RUN step in a docker:dind
// run, built FROM scratch (nothing of moat in it), reaches an allowed host
// over HTTPS through the run's proxy with no build argument and no CA of
// its own, and the grant's credential is put on its request: moat's
// wrapper of runc gave the step the proxy settings and the run's CA. The
// image it built keeps none of it.
func TestBuildkitStepsTrustTheProxy(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{egressSecret: "granted"})
	e.grantAPI(s, "testapi", egressSecret)
	busybox, err := os.ReadFile(busyboxPath(t))
	if err != nil {
		t.Fatal(err)
	}
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\nmounts: [\"" + buildctlBin + ":/usr/local/bin/buildctl:ro\"]\n" +
			"grants: [testapi]\nnetwork:\n  hosts: {api.test: 127.0.0.1}\n  ca: api-ca.pem\n",
		"api-ca.pem": s.caPEM,
		"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nCOPY hget /hget\n" +
			`RUN ["/bin/busybox", "sh", "-c", "/hget https://api.test:` + s.port + `/hello > /out; /bin/busybox wc -c < $SSL_CERT_FILE > /ca-size"]` + "\n" +
			`CMD ["/bin/busybox", "sh", "-c", "/bin/busybox cat /out; echo; echo ca-in-step=$(/bin/busybox cat /ca-size)"]` + "\n",
	})
	os.WriteFile(filepath.Join(ws, "busybox"), busybox, 0o755)
	buildHget(t, filepath.Join(ws, "hget"))
	if err := os.Chown(ws, 1000, 1000); err != nil { // the build writes build.log there
		t.Fatal(err)
	}
	name := uniqueName(t)
	// The image's content, read without starting a container (a started
	// one gets the CA from the inner daemon's runtime too).
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", buildAndRun+` || cat build.log; `+
		`echo ca-in-image=$(docker export "$(docker create bk:1)" | tar -xOf - etc/ssl/certs/ca-certificates.crt 2>/dev/null | wc -c)`)
	mustContain(t, "stdout", res.stdout, "hget 200 api-ok granted")
	if !strings.Contains(res.stdout, "ca-in-image=0") {
		t.Errorf("the built image keeps the CA the step trusted:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "ca-in-step=0") {
		t.Errorf("the step had no CA bundle:\n%s", res.stdout)
	}
	trace := e.mustRun(0, "trace", name, "--json").stdout
	mustContain(t, "trace", trace, `"path": "/hello"`, `"grant": "testapi"`)
}

// TestDindPullsThroughTheProxy: the inner daemon of a docker:dind run pulls
// from a registry over TLS (the test bed's registry behind a TLS front for
// registry.test) through the run's proxy, which opens the connection: the
// pull works without the agent configuring anything, and every registry
// request is in the trace with its verdict.
func TestDindPullsThroughTheProxy(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	target, _ := url.Parse("http://127.0.0.1:5000")
	port, ca := serveTLS(t, "127.0.0.1:0", "registry.test", httputil.NewSingleHostReverseProxy(target))
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\nnetwork:\n  hosts: {registry.test: 127.0.0.1}\n  ca: reg-ca.pem\n",
		"reg-ca.pem": ca,
	})
	name := uniqueName(t)
	ref := "registry.test:" + port + "/" + baseImage
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", `docker pull -q `+ref+` && docker run --rm `+ref+` echo inner-from-pulled`)
	mustContain(t, "stdout", res.stdout, "inner-from-pulled")
	trace := e.mustRun(0, "trace", name, "--json").stdout
	mustContain(t, "trace", trace, `"host": "registry.test:`+port+`"`, `"path": "/v2/debian/manifests/bookworm-slim"`, `"decision": "allow"`)
	if strings.Contains(trace, `"method": "CONNECT"`) {
		t.Errorf("the pull went through a blind tunnel:\n%s", trace)
	}
}

// TestBuildkitPullsAndCurlThroughTheProxy: the BuildKit sidecar pulls its
// FROM image from a registry over TLS (the test bed's, behind a TLS front
// for registry.test) through the run's proxy, and a RUN step installs
// curl from Debian's mirror and reaches an allowed host over HTTPS with
// it, the grant's credential put on the request: the daemon and the step
// trust the run's CA, and the step has the proxy settings, with nothing
// in the Dockerfile or the build's arguments.
func TestBuildkitPullsAndCurlThroughTheProxy(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{egressSecret: "granted"})
	e.grantAPI(s, "testapi", egressSecret)
	target, _ := url.Parse("http://127.0.0.1:5000")
	regPort, regCA := serveTLS(t, "127.0.0.1:0", "registry.test", httputil.NewSingleHostReverseProxy(target))
	mirror := baseImageMirrorHost(t)
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [docker:dind]\nmounts: [\"" + buildctlBin + ":/usr/local/bin/buildctl:ro\"]\ngrants: [testapi]\n" +
			"network:\n  allow: [\"" + mirror + "\"]\n  hosts: {registry.test: 127.0.0.1, api.test: 127.0.0.1" + mirrorMapping(t, mirror) + "}\n  ca: ca.pem\n",
		"ca.pem": regCA + s.caPEM,
		"Dockerfile": "FROM registry.test:" + regPort + "/" + baseImage + "\n" +
			"RUN apt-get update -qq && apt-get install -qq -y --no-install-recommends curl >/dev/null && curl -sS https://api.test:" + s.port + "/hello > /out\n" +
			"CMD [\"cat\", \"/out\"]\n",
	})
	if err := os.Chown(ws, 1000, 1000); err != nil { // the build writes build.log there
		t.Fatal(err)
	}
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", buildAndRun+` || cat build.log`)
	mustContain(t, "stdout", res.stdout, "api-ok granted")
	trace := e.mustRun(0, "trace", name, "--json").stdout
	mustContain(t, "trace", trace, `"host": "registry.test:`+regPort+`"`, `"path": "/v2/debian/manifests/bookworm-slim"`,
		`"path": "/hello"`, `"grant": "testapi"`)
}
