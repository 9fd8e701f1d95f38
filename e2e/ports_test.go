//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// portsDeps is the image of the ports tests: python3 serves, curl attacks.
const portsDeps = "curl, git, python"

// serveScript is the README's ./serve.sh: a web server on port 3000 of
// the run, serving the workspace.
const serveScript = "#!/bin/sh\nexec python3 -m http.server 3000\n"

// portsWorkspace is a workspace whose serve.sh serves index.html, which
// says body.
func (e *moatEnv) portsWorkspace(body string, extra map[string]string) string {
	files := map[string]string{"agent.yaml": "dependencies: [" + portsDeps + "]\n", "serve.sh": serveScript, "index.html": body}
	for k, v := range extra {
		files[k] = v
	}
	ws := e.workspace(files)
	if err := os.Chmod(filepath.Join(ws, "serve.sh"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// freePort is a port on the host's loopback nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// getWhenServing GETs url until the run's server answers (it starts after
// the run does) and returns the body.
func getWhenServing(t *testing.T, url string) string {
	t.Helper()
	var body string
	waitForDetail(t, waitTimeout, "the published port to serve "+url, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	}, func() string { return body })
	return body
}

// TestPortsPublishTheREADMEsServer runs the README's background server
// (run -d --name web ... ./serve.sh) twice on container port 3000, with
// -p on two host ports, and reaches each from the host with its own
// content, and through 'moat router' by name; list and inspect show the
// ports; a third run asking for a host port the first holds is refused
// before anything is created.
func TestPortsPublishTheREADMEsServer(t *testing.T) {
	t.Parallel()
	needImage(t, strings.Split(portsDeps, ", ")...)
	e := newMoat(t)
	web, api := uniqueName(t), uniqueName(t)+"-api"
	webPort, apiPort := freePort(t), freePort(t)
	webWS := e.portsWorkspace("served by web\n", nil)
	apiWS := e.portsWorkspace("served by api\n", nil)

	for _, r := range []struct {
		name, ws, publish string
	}{{web, webWS, fmt.Sprintf("%d:3000", webPort)}, {api, apiWS, fmt.Sprintf("127.0.0.1:%d:3000", apiPort)}} {
		res := e.mustRun(0, "run", "-d", "--name", r.name, "-p", r.publish, r.ws, "--", "./serve.sh")
		e.track(strings.TrimSpace(res.stdout))
	}
	if got := getWhenServing(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", webPort)); got != "served by web\n" {
		t.Errorf("web's published port served %q", got)
	}
	if got := getWhenServing(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", apiPort)); got != "served by api\n" {
		t.Errorf("api's published port served %q", got)
	}

	if got, want := strings.TrimSpace(e.mustRun(0, "list", "--filter", "name="+web, "--format", "{{.PortList}}").stdout),
		fmt.Sprintf("127.0.0.1:%d->3000/tcp", webPort); got != want {
		t.Errorf("list --format {{.PortList}}: got %q, want %q", got, want)
	}
	var inspected []struct {
		Ports []struct {
			HostIP        string `json:"host_ip"`
			HostPort      int    `json:"host_port"`
			ContainerPort int    `json:"container_port"`
		} `json:"ports"`
	}
	if err := json.Unmarshal([]byte(e.mustRun(0, "inspect", api).stdout), &inspected); err != nil || len(inspected) != 1 ||
		len(inspected[0].Ports) != 1 || inspected[0].Ports[0].HostIP != "127.0.0.1" ||
		inspected[0].Ports[0].HostPort != apiPort || inspected[0].Ports[0].ContainerPort != 3000 {
		t.Errorf("inspect %s: got %+v, %v; want one port 127.0.0.1:%d->3000", api, inspected, err, apiPort)
	}

	// The router reaches both by name, although both serve on port 3000.
	routerPort := freePort(t)
	router := e.start("router", "--listen", fmt.Sprintf("127.0.0.1:%d", routerPort))
	waitFor(t, waitTimeout, "moat router to listen", func() bool { return strings.Contains(router.stderr.String(), "Routing") })
	for host, want := range map[string]string{
		web + ".moat.localhost": "served by web\n", "3000." + api + ".moat.localhost": "served by api\n",
	} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/index.html", routerPort), nil)
		req.Host = fmt.Sprintf("%s:%d", host, routerPort)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("router, %s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("router, %s: got %d %q, want %q", host, resp.StatusCode, body, want)
		}
	}
	router.signal(os.Interrupt)
	router.wait(waitTimeout)

	// The web run holds webPort: a third run cannot have it, and is
	// refused before its record or any container exists.
	before := len(e.runDirs())
	res := e.run("run", "-d", "--name", uniqueName(t)+"-late", "-p", fmt.Sprintf("%d:3000", webPort), webWS, "--", "./serve.sh")
	wantErr := fmt.Sprintf("cannot publish port 127.0.0.1:%d:3000: host address 127.0.0.1:%d is not free", webPort, webPort)
	if res.code != 125 || !strings.Contains(res.stderr, wantErr) || !strings.Contains(res.stderr, "Choose another host port") {
		t.Errorf("a taken host port: got exit code %d, want 125 with %q and the remedy:\n%s", res.code, wantErr, res)
	}
	if after := len(e.runDirs()); after != before {
		t.Errorf("the refused run left a run directory: %d before, %d after", before, after)
	}
	if ids := dockerIDs(t, "ps", "-aq", "--filter", "name="+uniqueName(t)+"-late"); len(ids) != 0 {
		t.Errorf("the refused run left containers: %v", ids)
	}

	e.mustRun(0, "stop", web, api)
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", webPort)); err == nil {
		t.Errorf("web's published port still answers after the run stopped")
	}
}

// TestPortsHostileAgentCannotUseThePublishedPath is the agent attacking
// its inbound side from inside the run. It serves on its published port
// 3000 and then, as the agent's user, tries to reach a service on the
// host's loopback and the published host port (directly, and through its
// proxy), and to take over the published port's path by handing the
// proxy's socket a listening socket of its own, on port 4000, serving
// other content. None of it works: the host service gets no request, and
// the published port still leads to port 3000 alone.
func TestPortsHostileAgentCannotUseThePublishedPath(t *testing.T) {
	t.Parallel()
	needImage(t, strings.Split(portsDeps, ", ")...)
	e := newMoat(t)
	var hostHits atomic.Int32
	hostSvc := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hostHits.Add(1)
		io.WriteString(w, "host secret\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hostSvc.Serve(hostLn)
	t.Cleanup(func() { hostSvc.Close() })
	hostSvcPort := hostLn.Addr().(*net.TCPAddr).Port
	published := freePort(t)

	ws := e.portsWorkspace("the real server\n", map[string]string{"attack.sh": attackScript, "takeover.py": takeoverScript})
	if err := os.Chown(ws, 1000, 1000); err != nil { // the agent writes its results there
		t.Fatal(err)
	}
	name := uniqueName(t)
	res := e.mustRun(0, "run", "-d", "--name", name, "-p", fmt.Sprintf("%d:3000", published), ws, "--",
		"sh", "attack.sh", strconv.Itoa(hostSvcPort), strconv.Itoa(published))
	e.track(strings.TrimSpace(res.stdout))
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", published)
	if got := getWhenServing(t, url); got != "the real server\n" {
		t.Fatalf("the published port served %q before the attack", got)
	}
	resultFile := filepath.Join(ws, "attack.out")
	waitForDetail(t, waitTimeout, "the attack to finish", func() bool {
		b, _ := os.ReadFile(resultFile)
		return strings.Contains(string(b), "done\n")
	}, func() string { b, _ := os.ReadFile(resultFile); return string(b) })
	out, _ := os.ReadFile(resultFile)
	t.Logf("attack results:\n%s", out)

	for _, want := range []string{
		"direct host service: refused\n", "direct published port: refused\n",
		"proxy to host service: 403\n", "proxy to published port: 403\n",
		"takeover: handed over\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("attack results lack %q:\n%s", want, out)
		}
	}
	if t.Failed() {
		cl, _ := os.ReadFile(filepath.Join(ws, "curl.log"))
		t.Logf("curl -v:\n%s", cl)
	}
	// After the fake hand-over, the published port still leads to 3000.
	for i := 0; i < 5; i++ {
		if got := getWhenServing(t, url); got != "the real server\n" {
			t.Errorf("after the takeover attempt the published port served %q", got)
		}
	}
	if n := hostHits.Load(); n != 0 {
		t.Errorf("the host's service got %d requests from the run", n)
	}
	e.mustRun(0, "stop", name)
}

// attackScript runs as the agent: the README's server in the background,
// then the attacks, each result a line in attack.out.
const attackScript = `host_port=$1 published=$2
./serve.sh >/dev/null 2>&1 &
out=attack.out
probe() { # $1: label, rest: curl arguments
	label=$1; shift
	code=$(curl -sv -o /dev/null -w '%{http_code}' --max-time 5 "$@" 2>>curl.log)
	status=$?
	case $status in
	0) echo "$label: $code" ;;
	7) echo "$label: refused" ;;
	*) echo "$label: curl exit $status ($code)" ;;
	esac >>"$out"
}
probe "direct host service" --noproxy '*' "http://127.0.0.1:$host_port/"
probe "direct published port" --noproxy '*' "http://127.0.0.1:$published/"
# no_proxy names loopback: --noproxy '' makes curl use the proxy anyway.
probe "proxy to host service" --noproxy '' -x "$HTTP_PROXY" "http://127.0.0.1:$host_port/"
probe "proxy to published port" --noproxy '' -x "$HTTP_PROXY" "http://127.0.0.1:$published/"
python3 takeover.py >>"$out" 2>&1 &
i=0
while [ $i -lt 100 ] && ! grep -q '^takeover' "$out"; do sleep 0.1; i=$((i+1)); done
echo done >>"$out"
sleep 600
`

// takeoverScript hands the proxy's socket a listening socket of the
// agent's own, behind which a server answers "taken over": were the proxy
// to take its sockets for published ports from any connection, the
// published port would lead there.
const takeoverScript = `import glob, http.server, socket, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"taken over\n")
srv = http.server.HTTPServer(("127.0.0.1", 4000), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
for path in glob.glob("/run/moat/sock/*.sock"):
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    socket.send_fds(c, [b"L"], [srv.socket.fileno()])
    # Answer any request for a socket with the listening one.
    threading.Thread(target=lambda c=c: [socket.send_fds(c, [b"L"], [srv.socket.fileno()]) for _ in iter(lambda: c.recv(1), b"")], daemon=True).start()
    print("takeover: handed over", flush=True)
threading.Event().wait(600)
`
