package egress

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

// readyLine is an io.Writer that passes the proxy's ready line on.
type readyLine chan string

func (r readyLine) Write(p []byte) (int, error) {
	r <- string(p)
	return len(p), nil
}

// serveTCPMode serves a strict proxy with no grants in TCP mode on a
// loopback port, with grace for the first hold, and returns its
// configuration, its address (from the ready line) and where Serve's
// result arrives. The proxy is stopped at the test's end.
func serveTCPMode(t *testing.T, grace time.Duration) (*Config, string, <-chan error) {
	t.Helper()
	dir := t.TempDir()
	_, runCA := testRunCA(t, dir)
	cfg := &Config{Token: "tok", Socket: filepath.Join(dir, "unused.sock"), Policy: Policy{Mode: "strict"}, CA: runCA,
		AgentSeen: filepath.Join(dir, "agent.seen")}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(readyLine, 1)
	served := make(chan error, 1)
	go func() {
		served <- runProxy(ctx, cfg, ready, t.Logf, listenTCP("127.0.0.1:0", cfg.AgentSeen, grace, t.Logf))
	}()
	var addr string
	select {
	case line := <-ready:
		addr = strings.TrimSpace(strings.TrimPrefix(line, ReadyPrefix))
	case err := <-served:
		t.Fatalf("the proxy did not start: %v", err)
	}
	t.Cleanup(cancel)
	if _, err := os.Stat(filepath.Join(dir, "unused.sock")); err == nil {
		t.Fatal("the proxy in TCP mode listens on the configuration's socket too")
	}
	return cfg, addr, served
}

// rawRequest sends a request head to the proxy at addr on a connection of
// its own and returns the status line of its answer and the connection.
func rawRequest(t *testing.T, addr, head string) (string, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, head)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the proxy's answer to %q: %v", head, err)
	}
	c.SetReadDeadline(time.Time{})
	return strings.TrimSpace(line), c
}

func holdHead(token string) string {
	h := "GET http://" + AttestHost + holdPath + " HTTP/1.1\r\nHost: " + AttestHost + "\r\n"
	if token != "" {
		h += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("moat:"+token)) + "\r\n"
	}
	return h + "\r\n"
}

// stillServes fails t if the proxy stopped within a moment.
func stillServes(t *testing.T, served <-chan error, why string) {
	t.Helper()
	select {
	case err := <-served:
		t.Fatalf("the proxy stopped %s (%v)", why, err)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestTCPModeHolds: in TCP mode, a hold with the run's token counts as
// the agent until it closes, one without gets 407 and does not count,
// every other request is served as ever, and the proxy stops once the
// last hold has closed.
func TestTCPModeHolds(t *testing.T) {
	cfg, addr, served := serveTCPMode(t, time.Minute)

	status, noToken := rawRequest(t, addr, holdHead(""))
	if status != "HTTP/1.1 407 Proxy Authentication Required" {
		t.Fatalf("a hold without the token got %q, want 407", status)
	}
	if status, _ := rawRequest(t, addr, holdHead("not-the-token")); !strings.HasPrefix(status, "HTTP/1.1 407") {
		t.Fatalf("a hold with a wrong token got %q, want 407", status)
	}
	if _, err := os.Stat(cfg.AgentSeen); err == nil {
		t.Fatal("a hold without the run's token marked the agent seen")
	}
	noToken.Close()

	first, err := DialHold(context.Background(), addr, cfg.Token, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.AgentSeen); err != nil {
		t.Fatalf("the first hold did not mark the agent seen: %v", err)
	}
	second, err := DialHold(context.Background(), addr, cfg.Token, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	// Requests other than the hold are the proxy's as on a handed-over port.
	if status, _ := rawRequest(t, addr, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"); !strings.HasPrefix(status, "HTTP/1.1 407") {
		t.Fatalf("a request without the token got %q, want 407", status)
	}
	at := &Attester{Proxy: addr}
	if ans := at.ask(context.Background(), "CONNECT", "169.254.169.254:80", cfg.Token, nil); ans.status != policy.DenyStatus || ans.header.Get(policy.HeaderName) == "" {
		t.Fatalf("a CONNECT the policy refuses %s, want 403 with %s", ans.got(), policy.HeaderName)
	}

	first.Close()
	stillServes(t, served, "when one of two holds closed")
	// Bytes after the hold's request are not another request: they are
	// read and dropped, and only the close ends the hold.
	io.WriteString(second, "GET http://example.com/ HTTP/1.1\r\n\r\n")
	stillServes(t, served, "when a hold sent more")
	second.Close()
	awaitStop(t, served)
}

// TestTCPModeStopsWithoutAgent: a proxy no hold came to stops after the
// grace, as a proxy whose port was never handed over does.
func TestTCPModeStopsWithoutAgent(t *testing.T) {
	_, addr, served := serveTCPMode(t, 300*time.Millisecond)
	// A connection that is not a hold does not keep it.
	rawRequest(t, addr, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	awaitStop(t, served)
}

// TestTCPModeClosesHoldsWhenStopped: the proxy stopped closes the holds,
// which tells each relay.
func TestTCPModeClosesHoldsWhenStopped(t *testing.T) {
	dir := t.TempDir()
	_, runCA := testRunCA(t, dir)
	cfg := &Config{Token: "tok", Socket: filepath.Join(dir, "unused.sock"), Policy: Policy{Mode: "strict"}, CA: runCA}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(readyLine, 1)
	served := make(chan error, 1)
	go func() { served <- ServeTCP(ctx, cfg, "127.0.0.1:0", ready, t.Logf) }()
	addr := strings.TrimSpace(strings.TrimPrefix(<-ready, ReadyPrefix))
	hold, err := DialHold(context.Background(), addr, cfg.Token, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	awaitStop(t, served)
	held := make(chan struct{})
	go func() { Hold(context.Background(), hold); close(held) }()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the hold stays open after the proxy stopped")
	}
}

// TestDialHold: the relay waits for a proxy that is not there yet, and
// gives up at once on a proxy that refuses its token.
func TestDialHold(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there until the proxy comes
	held := make(chan error, 1)
	go func() {
		c, err := DialHold(context.Background(), addr, "tok", 10*time.Second)
		if err == nil {
			c.Close()
		}
		held <- err
	}()
	time.Sleep(300 * time.Millisecond)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, "tok") || r.URL.Path != holdPath {
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if err := <-held; err != nil {
		t.Fatalf("DialHold to a proxy that came late: %v", err)
	}
	start := time.Now()
	_, err = DialHold(context.Background(), addr, "wrong", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "407") {
		t.Fatalf("DialHold with a wrong token: %v, want the proxy's 407", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("DialHold took %s to give up on a 407", d)
	}
	_, err = DialHold(context.Background(), "127.0.0.1:1", "tok", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not come within 300ms") {
		t.Fatalf("DialHold with no proxy: %v, want that it did not come", err)
	}
}
