//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/policy"

	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// apiServer is a TLS server on the host's loopback that stands in for an
// API and a git host named api.test. It answers only requests carrying one
// of its keys in X-Api-Key, and remembers which keys it saw.
type apiServer struct {
	port  string
	caPEM string
	keys  map[string]string // key -> label it answers with

	mu   sync.Mutex
	seen []string // labels of the keys seen, in order
}

func newAPIServer(t *testing.T, keys map[string]string) *apiServer {
	t.Helper()
	return newAPIServerAt(t, keys, "127.0.0.1:0")
}

// newAPIServerAt is newAPIServer listening on addr.
func newAPIServerAt(t *testing.T, keys map[string]string, addr string) *apiServer {
	t.Helper()
	s := &apiServer{keys: keys}
	cert, caPEM := serverCert(t, "api.test")
	s.caPEM = caPEM
	repo := bareRepo(t)
	git := &cgi.Handler{Path: gitPath(t), Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "api-ok %s\n", s.label(r))
	})
	mux.Handle("/repo.git/", git)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			label, ok := s.keys[r.Header.Get("X-Api-Key")]
			if !ok {
				http.Error(w, "missing or wrong X-Api-Key", http.StatusUnauthorized)
				return
			}
			s.mu.Lock()
			s.seen = append(s.seen, label)
			s.mu.Unlock()
			mux.ServeHTTP(w, r)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	_, s.port, _ = net.SplitHostPort(ln.Addr().String())
	return s
}

func (s *apiServer) label(r *http.Request) string { return s.keys[r.Header.Get("X-Api-Key")] }

func (s *apiServer) seenLabels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// serverCert makes a CA and a certificate for name signed by it.
func serverCert(t *testing.T, name string) (tls.Certificate, string) {
	t.Helper()
	cert, caPEM, err := fakeapi.ServerCert(name)
	if err != nil {
		t.Fatal(err)
	}
	return cert, caPEM
}

func gitPath(t *testing.T) string {
	p, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed on the host for the git http-backend test server")
	}
	return p
}

// bareRepo makes a bare repository holding one commit with README.
func bareRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	work, bare := filepath.Join(dir, "work"), filepath.Join(dir, "srv", "repo.git")
	gitEnv := append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@test", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@test")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", work},
		{"-C", work, "commit", "-q", "--allow-empty", "-m", "init"},
		{"clone", "-q", "--bare", work, bare},
	} {
		if args[0] == "-C" {
			os.WriteFile(filepath.Join(work, "README"), []byte("cloned-through-the-proxy\n"), 0o644)
			c := exec.Command("git", "-C", work, "add", "README")
			c.Env = gitEnv
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("git add: %v\n%s", err, out)
			}
		}
		c := exec.Command("git", args...)
		c.Env = gitEnv
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return bare
}

// grantAPI stores an http grant for api.test with secret, in e's home.
func (e *moatEnv) grantAPI(s *apiServer, name, secret string) {
	e.t.Helper()
	res := e.runInput(secret, "grant", "http", name, "--host", "api.test:"+s.port, "--header", "X-Api-Key", "--token-stdin")
	if res.code != 0 {
		e.t.Fatalf("grant: %s", res)
	}
	if strings.Contains(res.stdout+res.stderr, secret) {
		e.t.Fatalf("moat grant printed the secret:\n%s", res)
	}
}

// egressWorkspace maps api.test to the host's loopback (where the proxy,
// in the host's network namespace, finds the server) and trusts its CA.
// The workspace belongs to uid 1000, the agent's user, which writes its
// results there.
func (e *moatEnv) egressWorkspace(s *apiServer, extra string) string {
	ws := e.workspace(map[string]string{
		"agent.yaml": "dependencies: [curl, git, python]\n" +
			"network:\n  hosts: {api.test: 127.0.0.1, other.test: 127.0.0.1}\n  ca: api-ca.pem\n" + extra,
		"api-ca.pem": s.caPEM,
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

const egressSecret = "sk-e2e-SECRET-7f3a9c21d4e6b8"

// TestEgressGrantInjectedAndSecretNeverInTheAgent runs real clients
// (curl, git, Python) in a strict run with a grant: each gets through with
// the credential injected, a host the policy does not allow is refused
// with the explanation, and a scan of the agent's container (every
// process's environment and command line, its filesystem, docker inspect)
// finds no trace of the secret. The trace and the audit log record it all.
func TestEgressGrantInjectedAndSecretNeverInTheAgent(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{egressSecret: "granted"})
	e.grantAPI(s, "testapi", egressSecret)
	ws := e.egressWorkspace(s, "grants: [testapi]\n")
	api := "https://api.test:" + s.port
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c", strings.Join([]string{
		`curl -sS ` + api + `/hello > curl.out 2>&1`,
		`git clone -q ` + api + `/repo.git /tmp/repo > git.out 2>&1 && cat /tmp/repo/README >> git.out`,
		`python3 -c "import urllib.request; print(urllib.request.urlopen('` + api + `/hello').read().decode())" > py.out 2>&1`,
		`curl -sS -i https://blocked.test:` + s.port + `/hello > blocked.out 2>&1`,
		`touch done; sleep 300`,
	}, "; "))
	waitFor(t, 60*time.Second, "the agent's requests", func() bool { return exists(filepath.Join(ws, "done")) })
	r := e.find(name)

	mustContain(t, "curl output", readFile(t, ws, "curl.out"), "api-ok granted")
	mustContain(t, "git output", readFile(t, ws, "git.out"), "cloned-through-the-proxy")
	mustContain(t, "python output", readFile(t, ws, "py.out"), "api-ok granted")
	blocked := readFile(t, ws, "blocked.out")
	mustContain(t, "blocked request", blocked, "403", "X-Moat-Blocked", "blocked.test", "network.allow")

	scanForSecret(t, r.ID, egressSecret, "api-ok granted", "cloned-through-the-proxy")

	e.mustRun(0, "stop", name)
	res := e.mustRun(0, "trace", name, "--json")
	var reqs []struct {
		Host, Path, Grant, Decision string
		Status                      int
	}
	if err := json.Unmarshal([]byte(res.stdout), &reqs); err != nil {
		t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	var granted, denied int
	for _, q := range reqs {
		if q.Grant == "testapi" && q.Status == 200 {
			granted++
		}
		if strings.HasPrefix(q.Decision, "deny") && strings.HasPrefix(q.Host, "blocked.test") {
			denied++
		}
	}
	if granted < 3 || denied != 1 {
		t.Errorf("trace: %d granted requests (want curl, git's and python's), %d denied (want 1):\n%s", granted, denied, res.stdout)
	}
	har := filepath.Join(t.TempDir(), "run.har")
	e.mustRun(0, "trace", name, "--har", har)
	var doc struct {
		Log struct {
			Version string
			Entries []json.RawMessage
		}
	}
	if raw, err := os.ReadFile(har); err != nil || json.Unmarshal(raw, &doc) != nil || doc.Log.Version != "1.2" || len(doc.Log.Entries) != len(reqs) {
		t.Errorf("HAR: version %q, %d entries, want 1.2 and %d (%v)", doc.Log.Version, len(doc.Log.Entries), len(reqs), err)
	}
	for _, f := range []string{"proxy/audit.jsonl", "metadata.json", "proxy/proxy.log", "logs.jsonl"} {
		if b, _ := os.ReadFile(filepath.Join(e.runsDir(), r.ID, f)); strings.Contains(string(b), egressSecret) {
			t.Errorf("the run's %s holds the secret", f)
		}
	}

	// The audit log: the injection and both requests, in order, and it verifies.
	kinds := auditKinds(t, e, r.ID)
	net := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool {
		return !strings.HasPrefix(k, "net.") && !strings.HasPrefix(k, "credential.")
	})
	if len(net) < 7 || net[0] != "credential.injected" || net[1] != "net.request" || !slices.Contains(net, "net.denied") {
		t.Errorf("network events %v: want each request's injection then its request, and the denial", net)
	}
	if i, j := slices.Index(kinds, "net.denied"), slices.Index(kinds, "run.finished"); i < 0 || i > j {
		t.Errorf("events %v: the proxy's events must come before run.finished", kinds)
	}
	res = e.mustRun(0, "audit", name)
	mustContain(t, "audit", res.stdout, ": OK\n", "net.request", "credential.injected", "net.denied 1")
}

// scanForSecret looks for secret everywhere the agent could: the agent's
// and the proxy's inspect output, every process's environment and command
// line in the agent's container, and every regular file in its mount tree
// (its root, the workspace and every other mount, but /proc and /sys),
// read from the host through /proc/PID/root as root, so that no file is
// out of reach. Anything it cannot read fails the test, but for processes
// and files that went away while it looked. controls are strings that
// must be found in the files (proof that the scan read them).
func scanForSecret(t *testing.T, runID, secret string, controls ...string) {
	t.Helper()
	scanForSecrets(t, runID, []string{secret}, controls...)
}

// scanForSecrets is scanForSecret for several secrets at once (a key and
// the other forms it could take), in one pass; a failure names a secret by
// its index in secrets, never by its value.
func scanForSecrets(t *testing.T, runID string, secrets []string, controls ...string) {
	t.Helper()
	ids := dockerIDs(t, "ps", "-q", "--filter", "label=moat.run-id="+runID)
	if len(ids) != 2 {
		t.Fatalf("run %s has %d containers, want the agent and its proxy", runID, len(ids))
	}
	for _, id := range ids {
		out, err := docker(t, "inspect", id)
		if err != nil {
			t.Fatal(err)
		}
		for i, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("docker inspect of %s shows secret %d", id, i)
			}
		}
	}
	agents := dockerIDs(t, "ps", "-q", "--filter", "label=moat.run-id="+runID, "--filter", "label=moat.role=agent")
	if len(agents) != 1 {
		t.Fatalf("run %s has agent containers %v, want one", runID, agents)
	}
	scanProcesses(t, agents[0], secrets)
	pid, err := docker(t, "inspect", "-f", "{{.State.Pid}}", agents[0])
	if err != nil || pid == "0" {
		t.Fatalf("the agent's PID: %q, %v", pid, err)
	}
	found := scanFiles(t, "/proc/"+pid+"/root/", append(slices.Clone(secrets), controls...))
	for i, secret := range secrets {
		if paths := found[secret]; len(paths) > 0 {
			t.Errorf("files in the agent's container hold secret %d: %v", i, paths)
		}
	}
	for _, c := range controls {
		if len(found[c]) == 0 {
			t.Errorf("the scan did not find %q, which the agent wrote: it did not read what it scans", c)
		}
	}
}

// scanProcesses reads the environment and command line of every process
// in container id (from the host) and fails the test if one holds any of
// secrets, or cannot be read for another reason than the process having
// exited.
func scanProcesses(t *testing.T, id string, secrets []string) {
	t.Helper()
	top, err := docker(t, "top", id, "-eo", "pid")
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(top)[1:]
	var read, gone int
	for _, pid := range pids {
		for _, f := range []string{"environ", "cmdline"} {
			b, err := os.ReadFile("/proc/" + pid + "/" + f)
			switch {
			case err != nil && processGone(pid, err):
				gone++
				t.Logf("process %s exited before its %s was read", pid, f)
			case err != nil:
				t.Errorf("reading process %s's %s: %v", pid, f, err)
			case slices.ContainsFunc(secrets, func(s string) bool { return strings.Contains(string(b), s) }):
				t.Errorf("process %s in the agent's container has a secret in its %s", pid, f)
			case f == "environ":
				read++
			}
		}
	}
	if read < 2 {
		t.Errorf("read the environment of %d of the processes %v (%d exited), want the init and the command at least", read, pids, gone)
	}
}

// processGone reports whether reading a /proc file of pid failed because
// the process exited: the file is gone (ENOENT) or the process is (ESRCH),
// and /proc/pid no longer exists.
func processGone(pid string, err error) bool {
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ESRCH) {
		return false
	}
	_, serr := os.Stat("/proc/" + pid)
	return errors.Is(serr, fs.ErrNotExist)
}

// scanFiles reads every regular file under root, a directory ending in a
// slash (not following symbolic
// links, which would resolve against the host's root) but root/proc and
// root/sys, and returns, for each needle, the paths (relative to root)
// that hold it. A file or directory that vanished while it was read (an
// agent's temporary file) is logged; any other error fails the test.
func scanFiles(t *testing.T, root string, needles []string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	var files, vanished int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel := "/" + strings.TrimPrefix(path, root)
		switch {
		case err != nil && path != root && errors.Is(err, fs.ErrNotExist):
			vanished++
			t.Logf("%s vanished while the scan read it", rel)
			return nil
		case err != nil:
			return err
		case d.IsDir() && (rel == "/proc" || rel == "/sys"):
			return fs.SkipDir
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			vanished++
			t.Logf("%s vanished while the scan read it", rel)
			return nil
		}
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found[n] = append(found[n], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scanning the agent's files: %v", err)
	}
	t.Logf("scanned %d files in the agent's container (%d vanished meanwhile)", files, vanished)
	return found
}

// bypassCheck is one way around the proxy the agent tries, and exactly how
// it must fail: the command's exit status is one of rc and its output holds
// every string in out. A direct attempt must fail at once for want of a
// route or a listener (curl's 6 or 7; 28, a timeout, would not tell a
// block from a slow network), an attempt through the proxy must get moat's
// refusal.
type bypassCheck struct {
	name, cmd string
	rc        []int
	out       []string
}

// curlNoRoute is how curl -v fails to reach an address the agent has no
// route to: at once, not by a timeout.
var curlNoRoute = []string{"Network is unreachable", "Couldn't connect to server"}

// TestEgressBypassesFail runs a bypass suite as the agent: every way
// around the proxy must fail, each in the way it must, and the host's
// firewall and routes must be as they were. The direct probes aim at
// servers the test runs on a network it creates (IPv4, unique-local IPv6,
// and a DNS resolver), and a container on that network reaches every one
// of them first, so that a probe cannot pass because nothing would answer.
func TestEgressBypassesFail(t *testing.T) {
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{egressSecret: "granted", "other-run-key": "other"})
	e.grantAPI(s, "testapi", egressSecret)
	bridge := bridgeServer(t, "reached-the-bridge")
	bridgeIP, bridgePort, _ := net.SplitHostPort(bridge)
	pn := newProbeNetwork(t)
	v6URL := serveHTTP(t, pn.gw6, "reached-over-ipv6")
	v4URL := serveHTTP(t, pn.gw4, "reached-over-ipv4")
	const probeName = "probe.moat-e2e.test"
	dns := serveDNS(t, pn.gw4, probeName, pn.gw4)

	// Another run, with its own proxy and token, up while the suite runs.
	other := e.egressWorkspace(s, "")
	otherName := uniqueName(t) + "-other"
	e.mustRun(0, "run", "-d", "-n", otherName, other, "--", "sh", "-c", `echo "$HTTP_PROXY" > proxy-url; sleep 300`)
	waitFor(t, 30*time.Second, "the other run", func() bool { return exists(filepath.Join(other, "proxy-url")) })
	otherURL := strings.TrimSpace(readFile(t, other, "proxy-url"))

	// The control: a container of the same image with a network reaches
	// the servers the agent's probes aim at, and resolves through the
	// test's resolver. (The bridge's IPv6 address stays tentative for a
	// moment after the container joins: the loop is bounded.)
	control, err := docker(t, "run", "--rm", "--network", pn.name, "--dns", pn.gw4.String(), "--label", "moat.e2e="+pn.name,
		"--entrypoint", "", e.find(otherName).Image, "sh", "-c",
		`for i in $(seq 20); do curl -sS -m 2 -g '`+v6URL+`' && break; sleep 0.5; done; echo; `+
			`curl -sS -m 5 '`+v4URL+`'; echo; getent hosts `+probeName)
	if err != nil {
		t.Fatalf("the control container: %v\n%s", err, control)
	}
	mustContain(t, "the control container's output", control, "reached-over-ipv6", "reached-over-ipv4", pn.gw4.String()+" ")
	if dns.queries.Load() == 0 {
		t.Fatalf("the control container resolved %s without asking the test's resolver:\n%s", probeName, control)
	}
	// The host's state with the probe network in place: the run must not
	// change it.
	before := hostNetworkState(t)
	controlQueries := dns.queries.Load()

	ws := e.egressWorkspace(s, "grants: [testapi]\n")
	// A port of the agent's own, handed to its proxy as the relay hands
	// the real one: the proxy serves it, but its clients still need the
	// token (given as the script's argument, the control below).
	handOver := "import base64, socket, sys, urllib.parse\n" +
		"auth = b''\n" +
		"if len(sys.argv) > 1:\n" +
		"    u = urllib.parse.urlsplit(sys.argv[1])\n" +
		"    auth = b'Proxy-Authorization: Basic ' + base64.b64encode(f'{u.username}:{u.password}'.encode()) + b'\\r\\n'\n" +
		"port = socket.socket(); port.bind(('127.0.0.1', 0)); port.listen()\n" +
		"u = socket.socket(socket.AF_UNIX); u.connect('/run/moat/sock/proxy.sock')\n" +
		"socket.send_fds(u, [b'L'], [port.fileno()])\n" +
		"c = socket.create_connection(port.getsockname(), timeout=5)\n" +
		"c.sendall(b'CONNECT api.test:" + s.port + " HTTP/1.1\\r\\nHost: api.test\\r\\n' + auth + b'\\r\\n')\n" +
		"status = c.recv(12)\n" +
		"print(status.decode())\n" +
		"sys.exit(0 if status == b'HTTP/1.1 200' else 1)\n"
	// A DNS query for the probe name, sent straight to the test's resolver.
	dnsQuery := "import socket, sys\n" +
		"q = bytes.fromhex('abcd01000001000000000000') + b''.join(bytes([len(l)]) + l.encode() for l in '" + probeName + "'.split('.')) + bytes.fromhex('0000010001')\n" +
		"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)\n" +
		"s.sendto(q, ('" + pn.gw4.String() + "', 53))\n" +
		"print(s.recv(512).hex())\n"
	for name, body := range map[string]string{"handover.py": handOver, "dnsquery.py": dnsQuery} {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	api := "https://api.test:" + s.port + "/hello"
	denied := []string{"HTTP/1.1 403", policy.HeaderName + ":"}
	checks := []bypassCheck{
		{"no-proxy-variables", `env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy curl -sS -m 5 ` + api, []int{6}, []string{"Could not resolve host: api.test"}},
		{"noproxy-flag", `curl -sS -m 5 --noproxy '*' ` + api, []int{6}, []string{"Could not resolve host: api.test"}},
		{"direct-server-address", `curl -sSv -m 5 --noproxy '*' http://` + bridge + `/`, []int{7}, curlNoRoute},
		{"server-port-on-loopback", `curl -sSv -m 5 -k --noproxy '*' https://127.0.0.1:` + s.port + `/hello`, []int{7}, []string{"Connection refused"}},
		{"engine-bridge-address", `curl -sSv -m 5 --noproxy '*' http://` + bridgeIP + `:` + bridgePort + `/`, []int{7}, curlNoRoute},
		{"test-network-ipv4", `curl -sSv -m 5 --noproxy '*' ` + v4URL, []int{7}, curlNoRoute},
		{"bridge-via-proxy", `curl -sS -m 5 -i http://` + bridge + `/`, []int{0}, denied},
		{"host-loopback-via-proxy", `curl -sS -m 5 -i --noproxy '' https://127.0.0.1:` + s.port + `/hello`, []int{56}, denied},
		{"test-network-via-proxy", `curl -sS -m 5 -i ` + v4URL, []int{0}, denied},
		{"metadata", `curl -sSv -m 5 --noproxy '*' http://169.254.169.254/latest/meta-data/`, []int{7}, curlNoRoute},
		{"metadata-via-proxy", `curl -sS -m 5 -i http://169.254.169.254/latest/meta-data/`, []int{0}, denied},
		{"metadata-https-via-proxy", `curl -sS -m 5 -i https://169.254.169.254/latest/meta-data/`, []int{56}, denied},
		{"dns-test-resolver", `python3 /workspace/dnsquery.py`, []int{1}, []string{"Network is unreachable"}},
		{"dns-probe-name", `getent hosts ` + probeName, []int{2}, nil},
		{"dns-python", `python3 -c "import socket; socket.getaddrinfo('` + probeName + `', 80)"`, []int{1}, []string{"socket.gaierror"}},
		{"ipv6", `curl -sSv -m 5 -6 --noproxy '*' -g '` + v6URL + `'`, []int{7}, []string{"Immediate connect fail", "Cannot assign requested address"}},
		{"ipv6-via-proxy", `curl -sS -m 5 -i -g '` + v6URL + `'`, []int{0}, denied},
		{"ipv6-address", `grep -v ' lo$' /proc/net/if_inet6 | grep .`, []int{1}, nil},
		{"non-loopback-interface", `grep -v -e '^ *lo:' -e Inter -e face /proc/net/dev | grep .`, []int{1}, nil},
		{"other-runs-proxy-token", `curl -sS -m 5 -i -x "` + otherURL + `" ` + api, []int{56}, []string{"HTTP/1.1 407"}},
		{"other-runs-proxy-direct", `curl -sSv -m 5 -x "` + strings.Replace(otherURL, "@127.0.0.1:", "@"+bridgeIP+":", 1) + `" ` + api, []int{7}, curlNoRoute},
		{"docker-socket", `ls -l /var/run/docker.sock /run/docker.sock`, []int{2}, []string{"No such file or directory"}},
		{"proxy-socket-other-run", `ls -A /run/moat/sock | grep -v -x proxy.sock`, []int{1}, nil},
		{"own-port-handed-to-the-proxy", `python3 /workspace/handover.py`, []int{1}, []string{"HTTP/1.1 407"}},
	}
	script := probeScript(checks)
	// The legitimate path works in the same run: the suite is not just
	// offline, and the hand-over vector failed for want of the token.
	script = append(script, `curl -sS -m 10 `+api, `python3 /workspace/handover.py "$HTTP_PROXY" && echo handed-over-port-served`)
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", strings.Join(script, "\n"))
	checkProbes(t, res.stdout, checks)
	mustContain(t, "stdout", res.stdout, "api-ok granted")
	mustContain(t, "stdout", res.stdout, "handed-over-port-served")
	if slices.Contains(s.seenLabels(), "other") {
		t.Errorf("the server saw the other run's key")
	}
	if n := dns.queries.Load() - controlQueries; n != 0 {
		t.Errorf("the test's resolver got %d queries during the agent's run, want none", n)
	}
	e.mustRun(0, "stop", otherName)

	if after := hostNetworkState(t); after != before {
		t.Errorf("the host's firewall or routes changed:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// probeScript runs each check in the agent's shell, its output and exit
// status framed for probeResult.
func probeScript(checks []bypassCheck) []string {
	var script []string
	for _, c := range checks {
		script = append(script, fmt.Sprintf(`printf '<<<%%s\n' %s; (%s) >/tmp/probe.out 2>&1; rc=$?; head -c 2000 /tmp/probe.out; printf '\n>>>%%s rc=%%d\n' %s $rc`,
			c.name, c.cmd, c.name))
	}
	return script
}

// checkProbes fails t for each check whose exit status or output in stdout
// is not what it wants.
func checkProbes(t *testing.T, stdout string, checks []bypassCheck) {
	t.Helper()
	for _, c := range checks {
		rc, out, ok := probeResult(stdout, c.name)
		switch {
		case !ok:
			t.Errorf("bypass %q: no result in the output:\n%s", c.name, stdout)
		case !slices.Contains(c.rc, rc) || !containsAll(out, c.out):
			t.Errorf("bypass %q: exit %d, output:\n%s\nwant exit %v and %q", c.name, rc, out, c.rc, c.out)
		}
	}
}

// probeResult finds check name's exit status and output in the suite's
// output.
func probeResult(stdout, name string) (rc int, out string, ok bool) {
	_, rest, ok := strings.Cut(stdout, "<<<"+name+"\n")
	if !ok {
		return 0, "", false
	}
	out, rest, ok = strings.Cut(rest, "\n>>>"+name+" rc=")
	if !ok {
		return 0, "", false
	}
	line, _, _ := strings.Cut(rest, "\n")
	rc, err := strconv.Atoi(line)
	return rc, out, err == nil
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// hostNetworkState is the host's iptables and ip6tables rules (without
// counters) and its routes.
func hostNetworkState(t *testing.T) string {
	t.Helper()
	counters := regexp.MustCompile(`\[\d+:\d+\]`)
	var b strings.Builder
	for _, argv := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"ip", "route"}, {"ip", "-6", "route"}} {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			// Comments carry timestamps; "linkdown" is a bridge's link
			// state (no container on it right now), and veth routes come
			// and go with other tests' containers on the default bridge
			// (moat's containers are never on it): neither is
			// configuration.
			// The test cluster's kubelet and kube-router rewrite their own
			// chains (KUBE-*) as pods come and go, on its own bridge: the
			// cluster's configuration, not moat's.
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" || strings.Contains(line, " dev veth") ||
				strings.Contains(line, "KUBE-") || strings.Contains(line, "kube-router") || strings.Contains(line, kubeTestBridge) {
				continue
			}
			line = strings.ReplaceAll(strings.TrimSpace(counters.ReplaceAllString(line, "")), " linkdown", "")
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestEgressDetachedAndConcurrentRuns checks that a detached run keeps
// reaching its API after the CLI that started it exited, and that two runs
// with different keys for the same host never see each other's key at the
// server.
func TestEgressDetachedAndConcurrentRuns(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{"key-of-a-0123456789": "A", "key-of-b-0123456789": "B"})
	e.grantAPI(s, "keya", "key-of-a-0123456789")
	e.grantAPI(s, "keyb", "key-of-b-0123456789")
	loop := `sleep 2; for i in 1 2 3 4 5 6 7 8 9 10; do curl -sS -m 10 https://api.test:` + s.port + `/hello >> out; done; touch done`
	wsA, wsB := e.egressWorkspace(s, "grants: [keya]\n"), e.egressWorkspace(s, "grants: [keyb]\n")
	e.mustRun(0, "run", "-d", wsA, "--", "sh", "-c", loop) // the CLI exits at once
	e.mustRun(0, "run", "-d", wsB, "--", "sh", "-c", loop)
	for _, ws := range []string{wsA, wsB} {
		waitFor(t, 90*time.Second, "the detached runs' requests", func() bool { return exists(filepath.Join(ws, "done")) })
	}
	for ws, label := range map[string]string{wsA: "A", wsB: "B"} {
		out := readFile(t, ws, "out")
		if strings.Count(out, "api-ok "+label) != 10 || strings.Count(out, "api-ok") != 10 {
			t.Errorf("run %s got:\n%s\nwant 10 answers for its own key", label, out)
		}
	}
	if n := len(s.seenLabels()); n != 20 {
		t.Errorf("server saw %d requests, want 20", n)
	}
	// No moat command has run since: the proxies stopped by themselves
	// when their agents ended, and the engine removed them.
	waitFor(t, 30*time.Second, "the detached runs' proxies to go", func() bool {
		return len(dockerIDs(t, "ps", "-aq", "--filter", "label=moat.role=proxy", "--filter", "label=moat.workspace="+wsA)) == 0 &&
			len(proxyContainers(t, e)) == 0
	})
}

// TestEgressPolicies checks the three policies: a very short strict run
// exits 0; permissive allows a host strict would refuse and traces it; none
// has no proxy and no network.
func TestEgressPolicies(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{egressSecret: "granted"})
	e.grantAPI(s, "testapi", egressSecret)

	strict := e.egressWorkspace(s, "grants: [testapi]\n")
	e.mustRun(0, "run", strict, "--", "true")

	permissive := e.egressWorkspace(s, "  policy: permissive\n")
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-n", name, permissive, "--", "curl", "-sS", "-i", "https://api.test:"+s.port+"/hello")
	// No grant: the proxy opens the TLS and injects nothing; the server
	// refuses the missing key.
	mustContain(t, "stdout", res.stdout, "401")
	res = e.mustRun(0, "trace", name, "--json")
	mustContain(t, "trace", res.stdout, `"host": "api.test:`+s.port+`"`, `"path": "/hello"`, `"decision": "allow"`)

	none := e.workspace(map[string]string{"agent.yaml": "dependencies: [curl, git, python]\nnetwork: {policy: none}\n"})
	res = e.mustRun(0, "run", none, "--", "sh", "-c", `env | grep -ci proxy; curl -sS -m 5 http://example.com/ && echo REACHED; true`)
	if strings.Contains(res.stdout, "REACHED") || !strings.HasPrefix(res.stdout, "0") {
		t.Errorf("policy none: got %q, want no proxy variables and no network", res.stdout)
	}
}

// proxyContainers lists the proxy sidecars of e's runs.
func proxyContainers(t *testing.T, e *moatEnv) []string {
	var out []string
	for id := range e.records() {
		out = append(out, dockerIDs(t, "ps", "-aq", "--filter", "label=moat.role=proxy", "--filter", "label=moat.run-id="+id)...)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEgressRelayFailureIsReported runs moat-init, in a run's own image,
// with a relay that fails: the command must not run, and moat-init must
// say why and what to do, rather than leave the run waiting forever.
func TestEgressRelayFailureIsReported(t *testing.T) {
	e := newMoat(t)
	name := uniqueName(t)
	ws := e.workspace(map[string]string{"agent.yaml": "network: {policy: none}\n"}) // every run image has moat-init
	e.mustRun(0, "run", "-n", name, ws, "--", "true")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--init", "--network", "none", "--label", "moat.e2e=relay-failure",
		"-e", "MOAT_UID=1000", "-e", "MOAT_GID=1000", "-e", "MOAT_PROXY_PORT=3128",
		"-e", "MOAT_PROXY_SOCKET=/nonexistent/proxy.sock", "-e", "MOAT_RELAY=/bin/false",
		e.find(name).Image, "--", "sh", "-c", "echo the command ran")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("moat-init still waits for a relay that failed:\n%s", out)
	}
	if code := exitCode(cmd, err); code != 125 || strings.Contains(string(out), "the command ran") {
		t.Fatalf("exit %d, output:\n%s\nwant 125 and the command not run", code, out)
	}
	mustContain(t, "moat-init's output", string(out), "the proxy relay (/bin/false) failed", "static Linux build")
}

// TestProxyEndsWithItsAgent runs commands that never touch the network:
// the agent's command starts only once its proxy holds the agent's port,
// so the proxy always sees the agent's end and stops by itself, and the
// CLI never has to stop it (nor wait out a timer to decide that it must).
func TestProxyEndsWithItsAgent(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	for _, tc := range []struct {
		cmd  []string
		code int
	}{{[]string{"true"}, 0}, {[]string{"sh", "-c", "exit 3"}, 3}} {
		name := uniqueName(t)
		e.mustRun(tc.code, append([]string{"run", "-n", name, ws, "--"}, tc.cmd...)...)
		r := e.find(name)
		how := proxyRemoval(t, e, r.ID)
		if how != "stopped with the agent" {
			t.Errorf("%v: the proxy's end: %q, want \"stopped with the agent\"", tc.cmd, how)
		}
	}
}

// proxyRemoval returns how a run's proxy sidecar ended, as its audit log
// says.
func proxyRemoval(t *testing.T, e *moatEnv, runID string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.runsDir(), runID, "proxy", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var entry struct {
			Kind string
			Data map[string]string
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if entry.Kind == "sidecar.removed" && entry.Data["role"] == "proxy" {
			return entry.Data["how"]
		}
	}
	t.Fatalf("no sidecar.removed entry for the proxy in run %s's audit log", runID)
	return ""
}
