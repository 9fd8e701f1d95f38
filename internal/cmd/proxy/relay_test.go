package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/proxy"
)

// testProbesEnv carries the forwarded no-direct-route check's probes to
// a relay the tests start (directProbes): the test machine has a route
// out, so a pod's probes would connect.
const testProbesEnv = "MOAT_TEST_DIRECT_PROBES"

// TestMain runs 'proxy ...' when the test binary is started as the relay
// (by a test) or as the relay's background half (by the relay, which
// starts its own executable again).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "proxy" {
		if p := os.Getenv(testProbesEnv); p != "" {
			directProbes = strings.Split(p, ",")
		}
		cmd := NewCmdProxy()
		cmd.SetArgs(os.Args[2:])
		cmd.SilenceUsage = true
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// podProxy is 'proxy serve' run in TCP mode, as in a proxy pod, on
// loopback, for a run that maps upstream.test to the test's server.
type podProxy struct {
	addr        string // where it listens, from its ready line
	cfg         *egress.Config
	attestation egress.Attestation
	served      chan error
}

func startPodProxy(t *testing.T) *podProxy {
	t.Helper()
	dir := t.TempDir()
	ca, err := proxy.LoadOrCreateCA(filepath.Join(dir, "ca"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.NewRunCA("run1", time.Now(), proxy.RunCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	p := &podProxy{served: make(chan error, 1), cfg: &egress.Config{
		Token: "tok-" + strconv.FormatInt(time.Now().UnixNano(), 36), Socket: filepath.Join(dir, "unused.sock"),
		Policy:    egress.Policy{Mode: "strict", Hosts: map[string]string{"upstream.test": "127.0.0.1"}},
		CA:        egress.RunCA{Cert: cert, Key: key},
		AgentSeen: filepath.Join(dir, "agent.seen"),
	}}
	if p.attestation, err = egress.PlanAttestation(p.cfg); err != nil {
		t.Fatal(err)
	}
	stdin, err := json.Marshal(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(egress.ListenEnv, "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out, ready := io.Pipe()
	go func() {
		p.served <- serve(ctx, bytes.NewReader(stdin), io.Discard, ready)
		ready.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, egress.ReadyPrefix) {
		t.Fatalf("proxy serve wrote %q (%v), want its ready line", line, err)
	}
	go io.Copy(io.Discard, out)
	p.addr = strings.TrimSpace(strings.TrimPrefix(line, egress.ReadyPrefix))
	return p
}

// awaitStop fails t unless the proxy stops by itself within a few seconds.
func (p *podProxy) awaitStop(t *testing.T, why string) {
	t.Helper()
	select {
	case err := <-p.served:
		if err != nil {
			t.Fatalf("proxy serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the proxy still runs %s", why)
	}
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runRelay runs 'proxy relay' as moat-init does, in forward mode to p,
// with the given probes, listening on listen, with args added. It
// returns the relay's exit status and what it wrote to stderr.
func runRelay(t *testing.T, p *podProxy, listen string, probes []string, args ...string) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A file, not a pipe: the background half inherits it and outlives
	// the relay, and Wait would wait for a pipe's last writer.
	stderr, err := os.CreateTemp(t.TempDir(), "relay-stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd := exec.Command(exe, append([]string{"proxy", "relay", "--listen", listen, "--wait", "10s"}, args...)...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, egress.ListenEnv+"=") }),
		egress.ProxyAddrEnv+"="+p.addr, egress.AttestEnv+"="+p.attestation.Encode(), testProbesEnv+"="+strings.Join(probes, ","))
	cmd.Stderr = stderr
	t.Cleanup(func() { killHolders(t, p.addr) })
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	written, _ := os.ReadFile(stderr.Name())
	return cmd.ProcessState.ExitCode(), string(written)
}

// holders returns the relay's background halves that forward to
// proxyAddr, found in /proc: the relay leaves them in sessions of their
// own, and nothing else knows their PIDs.
func holders(proxyAddr string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if bytes.Contains(cmdline, []byte("\x00--listen-fd\x00")) &&
			bytes.Contains(env, []byte("\x00"+egress.ProxyAddrEnv+"="+proxyAddr+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func killHolders(t *testing.T, proxyAddr string) {
	for _, pid := range holders(proxyAddr) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Logf("killing the relay's holder %d: %v", pid, err)
		}
	}
}

// TestRelayForwardsToAPodProxy runs the relay command in forward mode
// against 'proxy serve' in TCP mode, as on Kubernetes: it attests, leaves
// its holder, a request on the agent's port reaches the upstream through
// the proxy, and the proxy stops once the holder is killed.
func TestRelayForwardsToAPodProxy(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream ok "+r.URL.Path)
	}))
	defer upstream.Close()
	p := startPodProxy(t)
	listen := freePort(t)

	code, stderr := runRelay(t, p, listen, []string{freePort(t), freePort(t)})
	if code != 0 {
		t.Fatalf("the relay exited %d:\n%s", code, stderr)
	}
	if _, err := os.Stat(p.cfg.AgentSeen); err != nil {
		t.Fatalf("the proxy did not mark the agent seen: %v", err)
	}
	held := holders(p.addr)
	if len(held) != 1 {
		t.Fatalf("%d background halves of the relay run, want 1", len(held))
	}

	proxyURL := &url.URL{Scheme: "http", User: url.UserPassword("moat", p.cfg.Token), Host: listen}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	_, port, _ := net.SplitHostPort(upstream.Listener.Addr().String())
	for i := range 3 { // the holder forwards every connection, not only the first
		res, err := client.Get("http://upstream.test:" + port + "/path")
		if err != nil {
			t.Fatalf("request %d through the agent's port: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || string(body) != "upstream ok /path" {
			t.Fatalf("request %d: got %d %q, want the upstream's answer", i, res.StatusCode, body)
		}
		client.CloseIdleConnections()
	}
	select {
	case err := <-p.served:
		t.Fatalf("the proxy stopped while the relay's holder lives: %v", err)
	default:
	}

	if err := syscall.Kill(held[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.awaitStop(t, "after the relay's holder was killed")
}

// TestRelayForwardFailsClosed: a probe that connects fails the
// forwarded no-direct-route check: the relay exits 3 naming it, leaves no
// holder, and the proxy stops.
func TestRelayForwardFailsClosed(t *testing.T) {
	p := startPodProxy(t)
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	code, stderr := runRelay(t, p, freePort(t), []string{freePort(t), open.Addr().String()})
	want := "moat-init: egress attestation failed: no-direct-route: a direct connection to " + open.Addr().String() + " succeeded"
	if code != exitAttestFailed || !strings.Contains(stderr, want) {
		t.Fatalf("the relay exited %d with:\n%s\nwant %d and %q", code, stderr, exitAttestFailed, want)
	}
	if held := holders(p.addr); len(held) != 0 {
		t.Fatalf("the relay left holders %v after a failed attestation", held)
	}
	p.awaitStop(t, "after a failed attestation")
}

// tapTo forwards the connections to a new loopback port to addr, and
// returns the port's address and a function that returns all that
// clients sent through it so far.
func tapTo(t *testing.T, addr string) (string, func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var sent bytes.Buffer
	record := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return sent.Write(p)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			closeBoth := func() { c.Close(); up.Close() }
			go func() { io.Copy(up, io.TeeReader(c, record)); closeBoth() }()
			go func() { io.Copy(c, up); closeBoth() }()
		}
	}()
	return ln.Addr().String(), func() string {
		mu.Lock()
		defer mu.Unlock()
		return sent.String()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRelayServesTheSSHAgentSocket: with --ssh-agent, the relay leaves
// a socket (0666) there that its holder serves: a connection to it
// becomes a request for the ssh agent on the agent's port, with the
// run's token, which is not on the holder's command line. The socket
// stops accepting with the holder.
func TestRelayServesTheSSHAgentSocket(t *testing.T) {
	p := startPodProxy(t)
	var sent func() string
	p.addr, sent = tapTo(t, p.addr)
	path := filepath.Join(t.TempDir(), "ssh", "agent.sock")

	code, stderr := runRelay(t, p, freePort(t), []string{freePort(t)}, "--ssh-agent", path)
	if code != 0 {
		t.Fatalf("the relay exited %d:\n%s", code, stderr)
	}
	held := holders(p.addr)
	if len(held) != 1 {
		t.Fatalf("%d background halves of the relay run, want 1", len(held))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode() != fs.ModeSocket|0o666 {
		t.Fatalf("the ssh-agent socket: %v, %v; want a socket, mode 0666", fi, err)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", held[0]))
	if bytes.Contains(cmdline, []byte(p.cfg.Token)) {
		t.Fatalf("the holder's command line holds the token: %q", cmdline)
	}

	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := "GET http://" + egress.AttestHost + egress.SSHAgentPath + " HTTP/1.1\r\nHost: " + egress.AttestHost +
		"\r\nProxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("moat:"+p.cfg.Token)) + "\r\n\r\n"
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(sent(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy did not get %q; it got:\n%s", want, sent())
		}
	}

	if err := syscall.Kill(held[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.awaitStop(t, "after the relay's holder was killed")
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		t.Fatal("the ssh-agent socket still accepts connections after the holder was killed")
	}
}
