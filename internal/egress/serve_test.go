package egress

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/proxy"
)

const testSecret = "s3cr3t-api-key-value"

// sidecar is a proxy served from a Config through a relay, as in a run.
type sidecar struct {
	client   *http.Client
	auditLog string
	pub      ed25519.PublicKey
	upstream *httptest.Server
	headers  chan http.Header
	stop     func()
}

// startSidecar serves the proxy after delay, behind a relay that is up at
// once, and returns a client whose proxy is the relay.
func startSidecar(t *testing.T, delay time.Duration) *sidecar {
	t.Helper()
	s := &sidecar{headers: make(chan http.Header, 10)}
	s.upstream = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.headers <- r.Header.Clone()
		io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(s.upstream.Close)
	port := s.upstream.Listener.Addr().(*net.TCPAddr).Port
	host := "example.com:" + strconv.Itoa(port)

	dir := t.TempDir()
	ca, runCA := testRunCA(t, dir)
	pub, key, _ := ed25519.GenerateKey(nil)
	s.pub, s.auditLog = pub, filepath.Join(dir, "audit.jsonl")
	cfg := &Config{
		Token:  "tok-123",
		Socket: filepath.Join(dir, "p.sock"),
		Policy: Policy{Mode: "strict", Hosts: map[string]string{"example.com": "127.0.0.1"}},
		Grants: []GrantSecret{{
			Grant:  grant.Grant{Name: "my-api", Kind: grant.HTTP, Hosts: []string{host}, Header: "X-Api-Key"},
			Secret: []byte(testSecret),
		}},
		CA:            runCA,
		UpstreamRoots: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.upstream.Certificate().Raw}),
		Audit:         &Audit{Path: s.auditLog, RunID: "run1", Key: key},
	}
	data, _ := json.Marshal(cfg)
	cfg, err := ReadConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}

	var ready bytes.Buffer
	addr, stop := runSidecar(t, cfg, delay, &ready)
	s.stop = func() {
		stop()
		if !strings.HasPrefix(ready.String(), ReadyPrefix) {
			t.Errorf("Serve wrote %q, want the ready line", ready.String())
		}
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	proxyURL := &url.URL{Scheme: "http", User: url.UserPassword("moat", cfg.Token), Host: addr}
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots},
		// Name lookups happen in the proxy: example.com maps to 127.0.0.1 only there.
		DialContext: (&net.Dialer{}).DialContext,
	}}
	return s
}

func TestSidecarInjectsThroughRelayAndRecords(t *testing.T) {
	s := startSidecar(t, 300*time.Millisecond) // the first request waits in the port's backlog
	port := s.upstream.Listener.Addr().(*net.TCPAddr).Port
	req, _ := http.NewRequest("GET", "https://example.com:"+strconv.Itoa(port)+"/v1/things?q=1", nil)
	req.Header.Set("X-Api-Key", "placeholder-from-agent")
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("request through relay and proxy: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "upstream ok" {
		t.Fatalf("got %d %q, want 200 from upstream", res.StatusCode, body)
	}
	if got := (<-s.headers).Get("X-Api-Key"); got != testSecret {
		t.Fatalf("upstream saw X-Api-Key %q, want the grant's secret", got)
	}

	res, err = s.client.Get("https://blocked.example:443/")
	if err == nil {
		res.Body.Close()
		t.Fatalf("request to a host not allowed went through: %d", res.StatusCode)
	}
	s.stop()

	entries := readAudit(t, s.auditLog)
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind)
		for _, v := range e.Data {
			if strings.Contains(v, testSecret) {
				t.Fatalf("audit entry %s holds the secret", e.Kind)
			}
		}
	}
	want := []string{audit.KindCredentialInjected, audit.KindNetRequest, audit.KindNetDenied}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
	req0 := entries[1].Data
	if req0[audit.NetGrant] != "my-api" || req0[audit.NetPath] != "/v1/things" || req0[audit.NetStatus] != "200" ||
		req0[audit.NetScheme] != "https" || req0[audit.NetDecision] != "allow" {
		t.Fatalf("net.request data %v", req0)
	}
	if d := entries[2].Data[audit.NetDecision]; !strings.HasPrefix(d, "deny") {
		t.Fatalf("net.denied decision %q", d)
	}
}

func TestSidecarRefusesWrongToken(t *testing.T) {
	s := startSidecar(t, 0)
	defer s.stop()
	tr := s.client.Transport.(*http.Transport).Clone()
	pu, _ := tr.Proxy(&http.Request{URL: &url.URL{Scheme: "http"}})
	pu.User = url.UserPassword("moat", "wrong")
	tr.Proxy = http.ProxyURL(pu)
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusProxyAuthRequired {
		t.Fatalf("got %d with a wrong token, want 407", res.StatusCode)
	}
}

func TestReadConfigRejectsIncomplete(t *testing.T) {
	for _, in := range []string{"", "{", `{"token":"x"}`, `{"socket":"/s"}`} {
		if _, err := ReadConfig(strings.NewReader(in)); err == nil {
			t.Errorf("ReadConfig(%q) accepted an incomplete configuration", in)
		}
	}
}

func TestRelayGivesUpWithoutProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Relay(ctx, ln.(*net.TCPListener), filepath.Join(t.TempDir(), "absent.sock"), 100*time.Millisecond)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("read %d bytes from a relay with no proxy, want the connection closed", n)
	}
	c.Close()
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "the proxy did not come") {
		t.Fatalf("Relay returned %v, want the proxy did not come", err)
	}
}

func readAudit(t *testing.T, path string) []audit.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := audit.NewReader(f)
	var out []audit.Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != audit.KindCheckpoint {
			out = append(out, e)
		}
	}
}

func TestProxyStopsWhenTheAgentIsGone(t *testing.T) {
	cfg, served := serveBare(t)
	seen := cfg.AgentSeen
	if _, err := os.Stat(seen); err == nil {
		t.Fatalf("%s exists before any relay came", seen)
	}
	_, agentEnds := relayPort(t, cfg.Socket)
	// The CLI reads the file to know the proxy will stop by itself.
	waitForFile(t, seen)
	select {
	case err := <-served:
		t.Fatalf("the proxy stopped while the agent lives: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	agentEnds() // the agent's container goes, and its relay with it
	awaitStop(t, served)
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear once the relay handed the port over", path)
}

// serveBare serves a strict proxy with no grants, and returns its
// configuration and where Serve's result arrives.
func serveBare(t *testing.T) (*Config, <-chan error) {
	t.Helper()
	dir := t.TempDir()
	_, runCA := testRunCA(t, dir)
	cfg := &Config{Token: "t", Socket: filepath.Join(dir, "p.sock"), Policy: Policy{Mode: "strict"}, CA: runCA,
		AgentSeen: filepath.Join(dir, "agent.seen")}
	served := make(chan error, 1)
	go func() { served <- Serve(context.Background(), cfg, io.Discard, t.Logf) }()
	return cfg, served
}

// relayPort opens a TCP port and has Relay hand it to the proxy at socket,
// as in the agent's container. end stops the relay, as the container's end
// does, and checks it returned nil.
func relayPort(tb testing.TB, socket string) (addr string, end func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	relayed := make(chan error, 1)
	go func() { relayed <- Relay(ctx, ln.(*net.TCPListener), socket, 10*time.Second) }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-relayed; err != nil {
			tb.Errorf("Relay: %v", err)
		}
	}
}

// runSidecar serves cfg's proxy, after delay, on a port a relay hands it,
// as in a run, writing its ready line to out. It returns the port's
// address and stop, which stops both and checks they returned nil.
func runSidecar(tb testing.TB, cfg *Config, delay time.Duration, out io.Writer) (addr string, stop func()) {
	tb.Helper()
	addr, endRelay := relayPort(tb, cfg.Socket)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		time.Sleep(delay)
		served <- Serve(ctx, cfg, out, tb.Logf)
	}()
	return addr, func() {
		cancel()
		if err := <-served; err != nil {
			tb.Errorf("Serve: %v", err)
		}
		endRelay()
	}
}

// awaitStop fails t unless Serve returns nil within 5 seconds.
func awaitStop(t *testing.T, served <-chan error) {
	t.Helper()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy still runs after its agent is gone")
	}
}

// TestProxySocketTakesOnlyAListeningTCPPort hands the proxy's socket what a
// confused or hostile process in the agent's container might: the proxy
// refuses each, keeps running, and then serves a real relay's port.
func TestProxySocketTakesOnlyAListeningTCPPort(t *testing.T) {
	cfg, served := serveBare(t)
	dir := t.TempDir()

	file, err := os.Create(filepath.Join(dir, "a-file"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	unixLn, err := net.Listen("unix", filepath.Join(dir, "other.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unixLn.Close()
	tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpLn.Close()
	tcpConn, err := net.Dial("tcp", tcpLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tcpConn.Close()
	fileOf := func(f interface{ File() (*os.File, error) }) *os.File {
		fd, err := f.File()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fd.Close() })
		return fd
	}
	for _, tc := range []struct {
		name    string
		payload byte
		files   []*os.File
	}{
		{"no descriptor", handoffByte, nil},
		{"a TCP listener with the wrong byte", 'X', []*os.File{fileOf(tcpLn.(*net.TCPListener))}},
		{"a file", handoffByte, []*os.File{file}},
		{"a unix listener", handoffByte, []*os.File{fileOf(unixLn.(*net.UnixListener))}},
		{"a connected TCP socket", handoffByte, []*os.File{fileOf(tcpConn.(*net.TCPConn))}},
		{"two TCP listeners", handoffByte, []*os.File{fileOf(tcpLn.(*net.TCPListener)), fileOf(tcpLn.(*net.TCPListener))}},
	} {
		c, err := dialWaiting(context.Background(), cfg.Socket, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var fds []int
		for _, f := range tc.files {
			fds = append(fds, int(f.Fd()))
		}
		var oob []byte
		if len(fds) > 0 {
			oob = syscall.UnixRights(fds...)
		}
		if _, _, err := c.(*net.UnixConn).WriteMsgUnix([]byte{tc.payload}, oob, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("%s: the proxy kept the connection (read %d, %v), want it closed", tc.name, n, err)
		}
		c.Close()
	}
	select {
	case err := <-served:
		t.Fatalf("the proxy stopped after refused hand-overs (%v); they are not the agent leaving", err)
	case <-time.After(200 * time.Millisecond):
	}

	addr, agentEnds := relayPort(t, cfg.Socket)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status := make([]byte, 12)
	if _, err := io.ReadFull(c, status); err != nil || string(status) != "HTTP/1.1 407" {
		t.Fatalf("the relay's port answered %q, %v; want the proxy's 407", status, err)
	}
	c.Close()
	agentEnds()
	awaitStop(t, served)
}

// testRunCA makes a user's CA in dir and a run's CA below it, as the CLI
// does for each run.
func testRunCA(t testing.TB, dir string) (*proxy.CA, RunCA) {
	t.Helper()
	ca, err := proxy.LoadOrCreateCA(filepath.Join(dir, "ca"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.NewRunCA("run1", time.Now(), proxy.RunCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	return ca, RunCA{Cert: cert, Key: key}
}
