//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// routerConfig is a moat home's config.yaml with the router on addr,
// started by runs.
func routerConfig(addr string) string {
	return "buildkit_image: " + buildkitImageID + "\nrouter: {listen: '" + addr + "'}\n"
}

// ended reports whether process pid is gone (a zombie waiting for its
// reaper counts: it runs nothing and holds no port).
func ended(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}

// getByName GETs path from the router on addr with host in the Host
// header until the run's server answers 200, and returns the body.
func getByName(t *testing.T, addr, host, path string) string {
	t.Helper()
	var body string
	waitForDetail(t, waitTimeout, host+" through the router", func() bool {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			body = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = fmt.Sprintf("%d %s", resp.StatusCode, b)
		return resp.StatusCode == http.StatusOK
	}, func() string { return body })
	return strings.TrimPrefix(body, "200 ")
}

// TestRouterStartsOnDemandAndExitsWhenIdle runs two detached servers on
// port 3000 of their runs, each on a free host port: the first run starts
// the router in the background on the home's router.listen, the second
// finds it, and each says where its port is reached. Both are reached by
// name through it; once both runs are stopped, the router exits by itself
// (its idle period shortened), leaving no process, pid file or listener.
func TestRouterStartsOnDemandAndExitsWhenIdle(t *testing.T) {
	t.Parallel()
	needImage(t, strings.Split(portsDeps, ", ")...)
	e := newMoat(t)
	routerAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	routerPort := routerAddr[strings.LastIndexByte(routerAddr, ':')+1:]
	e.writeConfig(routerConfig(routerAddr))
	e.env = append(e.env, "MOAT_TEST_ROUTER_IDLE=3s")
	pidPath := filepath.Join(e.home, "router", "router.pid")
	readPID := func() int {
		b, err := os.ReadFile(pidPath)
		if err != nil {
			t.Fatalf("no background router: %v", err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}

	web, api := uniqueName(t), uniqueName(t)+"-api"
	var pid int
	for _, r := range []struct{ name, body string }{{web, "served by web\n"}, {api, "served by api\n"}} {
		res := e.mustRun(0, "run", "-d", "--name", r.name, "-p", "3000", e.portsWorkspace(r.body, nil), "--", "./serve.sh")
		e.track(strings.TrimSpace(res.stdout))
		mustContain(t, "moat run's stderr", res.stderr,
			fmt.Sprintf("Published %s port 3000: http://%s.moat.localhost:%s/ (http://127.0.0.1:", r.name, r.name, routerPort))
		if strings.Contains(res.stderr, "router not started") {
			t.Errorf("moat run warned about the router:\n%s", res)
		}
		if pid == 0 {
			pid = readPID()
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
		} else if again := readPID(); again != pid {
			t.Errorf("the second run started another router (pid %d, the first's %d)", again, pid)
		}
	}
	// Its own session: it does not end with the terminal or process
	// group of the moat that started it.
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+1:]); len(f) < 4 || f[3] != strconv.Itoa(pid) {
		t.Errorf("the router's /proc stat %q: want session %d, its own", stat, pid)
	}

	if got := getByName(t, routerAddr, web+".moat.localhost:"+routerPort, "/index.html"); got != "served by web\n" {
		t.Errorf("web by name: got %q", got)
	}
	if got := getByName(t, routerAddr, "3000."+api+".moat.localhost", "/index.html"); got != "served by api\n" {
		t.Errorf("api by name: got %q", got)
	}

	time.Sleep(6 * time.Second) // twice the idle period: the runs hold it
	if ended(pid) {
		t.Fatal("the router exited while runs published ports")
	}
	e.mustRun(0, "stop", web, api)
	waitFor(t, time.Minute, "the idle router to exit", func() bool { return ended(pid) })
	if _, err := os.Stat(pidPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the router's pid file remains: %v", err)
	}
	if c, err := net.DialTimeout("tcp", routerAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the router exited", routerAddr)
	}
	log, _ := os.ReadFile(filepath.Join(e.home, "router", "router.log"))
	mustContain(t, "the router's log", string(log), "No active run has published a port for 3s: stopping")
}

// TestRouterAddressTakenRunStillStarts: with another server on the
// router's address, a run that publishes a port starts all the same and
// warns once, saying how to choose another address.
func TestRouterAddressTakenRunStillStarts(t *testing.T) {
	t.Parallel()
	needImage(t, strings.Split(portsDeps, ", ")...)
	e := newMoat(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "not moat") }))
	defer other.Close()
	addr := strings.TrimPrefix(other.URL, "http://")
	e.writeConfig(routerConfig(addr))
	res := e.mustRun(0, "run", "--name", uniqueName(t), "-p", "3000", e.portsWorkspace("x", nil), "--", "echo", "ran")
	mustContain(t, "moat run's output", res.stdout, "ran")
	warning := "warning: moat router not started: " + addr + " is taken by a server that is not a moat router; " +
		"to use another address, set router.listen in " + filepath.Join(e.home, "config.yaml")
	if strings.Count(res.stderr, warning) != 1 || strings.Count(res.stderr, "warning: moat router") != 1 {
		t.Errorf("want exactly one warning, %q:\n%s", warning, res)
	}
	mustContain(t, "moat run's stderr", res.stderr, "Published "+res.args[2]+" port 3000: http://127.0.0.1:")
	if _, err := os.Stat(filepath.Join(e.home, "router", "router.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a router was started: %v", err)
	}
}
