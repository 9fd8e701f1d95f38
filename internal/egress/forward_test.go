package egress

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// listen opens a loopback TCP listener closed at the test's end.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// startForward forwards a new listener's connections to addr until the
// test ends, and returns the listener's address and a channel closed
// when Forward returned.
func startForward(t *testing.T, ctx context.Context, addr string) (string, <-chan struct{}) {
	t.Helper()
	ln := listen(t)
	done := make(chan struct{})
	go func() { Forward(ctx, ln, addr); close(done) }()
	t.Cleanup(func() { <-done })
	return ln.Addr().String(), done
}

// forwardTo serves one connection with server on an upstream port,
// forwards a port of its own there until the test ends, and returns a
// client's connection to that port.
func forwardTo(t *testing.T, server func(c *net.TCPConn)) *net.TCPConn {
	t.Helper()
	up := listen(t)
	go func() {
		c, err := up.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		server(c.(*net.TCPConn))
	}()
	ctx, cancel := context.WithCancel(context.Background())
	addr, _ := startForward(t, ctx, up.Addr().String())
	t.Cleanup(cancel) // before startForward's cleanup, which waits for Forward
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

// TestForwardHalfClose: a client's close of its writing half reaches the
// server through the forwarder, which can still answer, and the server's
// half-close reaches the client in turn.
func TestForwardHalfClose(t *testing.T) {
	heard := make(chan string, 1)
	c := forwardTo(t, func(c *net.TCPConn) {
		request, _ := io.ReadAll(c) // until the client's half-close
		fmt.Fprintf(c, "got %d bytes", len(request))
		c.CloseWrite()
		after, _ := io.ReadAll(c)
		heard <- string(after)
	})
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	answer, err := io.ReadAll(c) // until the server's half-close
	if err != nil || string(answer) != "got 1048576 bytes" {
		t.Fatalf("the answer after a half-close: %q, %v", answer, err)
	}
	// The client's close reaches the server as the end of what follows
	// its half-close: nothing.
	c.Close()
	select {
	case got := <-heard:
		if got != "" {
			t.Fatalf("the server read %q after the client's half-close", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client's close did not reach the server")
	}
}

// TestForwardServerHalfClosesFirst: a server that speaks first and
// half-closes still hears the client's answer.
func TestForwardServerHalfClosesFirst(t *testing.T) {
	heard := make(chan string, 1)
	c := forwardTo(t, func(c *net.TCPConn) {
		io.WriteString(c, "hello")
		c.CloseWrite()
		b, _ := io.ReadAll(c)
		heard <- string(b)
	})
	if b, err := io.ReadAll(c); err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v; want hello and EOF", b, err)
	}
	io.WriteString(c, "bye")
	c.Close()
	if got := <-heard; got != "bye" {
		t.Fatalf("the server heard %q after its half-close, want bye", got)
	}
}

// TestForwardStops: when its context ends, Forward closes its listener
// and the connections it carries, and returns.
func TestForwardStops(t *testing.T) {
	up := listen(t)
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open until the test ends
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startForward(t, ctx, up.Addr().String())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "x")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Forward still runs after its context ended")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a connection Forward should have closed", n)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Forward returned")
	}
}

// TestHoldForwardingEndsWithTheHold: the relay's background half stops
// forwarding, and closes the agent's port, once the proxy closes the
// hold.
func TestHoldForwardingEndsWithTheHold(t *testing.T) {
	proxySide := listen(t)
	hold, err := net.Dial("tcp", proxySide.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	held, err := proxySide.Accept()
	if err != nil {
		t.Fatal(err)
	}
	port := listen(t)
	done := make(chan struct{})
	go func() { HoldForwarding(context.Background(), hold, port, proxySide.Addr().String()); close(done) }()
	select {
	case <-done:
		t.Fatal("HoldForwarding returned while the hold is open")
	case <-time.After(200 * time.Millisecond):
	}
	held.Close() // the proxy stopped
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("HoldForwarding still runs after the proxy closed the hold")
	}
	if c, err := net.Dial("tcp", port.Addr().String()); err == nil {
		c.Close()
		t.Fatal("the agent's port still accepts after the hold ended")
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestNoDirectConnect: with the agent's port forwarded, no-direct-route
// passes when every probe is refused or times out, and fails naming the
// first probe, in order, that connected.
func TestNoDirectConnect(t *testing.T) {
	open1, open2 := listen(t).Addr().String(), listen(t).Addr().String()
	closed1, closed2 := closedPort(t), closedPort(t)
	tests := []struct {
		name   string
		probes []string
		want   string // "" passes; else in the detail
	}{
		{"every probe refused", []string{closed1, closed2}, ""},
		{"one probe answers", []string{closed1, open1, closed2}, "a direct connection to " + open1 + " succeeded"},
		{"the first that answers is named", []string{closed1, open2, open1}, "a direct connection to " + open2 + " succeeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := &Attester{Forwarded: true, Probes: tc.probes}
			wantVerdict(t, at.checkNoDirectRoute(context.Background()), tc.want)
		})
	}
}

// TestNoDirectConnectIsBounded: probes whose packets are dropped (a
// dial that never ends) pass once the check's time is up, and the check
// takes no longer.
func TestNoDirectConnectIsBounded(t *testing.T) {
	dropped := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
	}
	at := &Attester{Forwarded: true, Probes: []string{"192.0.2.1:80", "192.0.2.2:443", "192.0.2.3:6443"}, Direct: dropped}
	start := time.Now()
	v := at.checkNoDirectRoute(context.Background())
	if v.Verdict != VerdictPass {
		t.Fatalf("got %+v, want a pass", v)
	}
	if d := time.Since(start); d < probeWait || d > probeWait+500*time.Millisecond {
		t.Fatalf("the check took %s, want about %s", d, probeWait)
	}
}

// TestPodProbes: the probes of a pod are its default gateway on the
// node's ports, the cluster's API service, the metadata address and a
// public address.
func TestPodProbes(t *testing.T) {
	// A pod's table: default via 10.244.0.1 on eth0, and its subnet.
	table := loOnlyV4 + "eth0\t00000000\t0100F40A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t0000F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	file := filepath.Join(t.TempDir(), "route")
	if err := os.WriteFile(file, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
	got, err := podProbes(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.244.0.1:80", "10.244.0.1:443", "10.244.0.1:6443", "10.244.0.1:10250", "10.96.0.1:443",
		"169.254.169.254:80", "1.1.1.1:443", "[2606:4700:4700::1111]:443"}
	if !slices.Equal(got, want) {
		t.Fatalf("probes %v, want %v", got, want)
	}

	// Without a gateway (a device route) or the service's variables.
	os.WriteFile(file, []byte(loOnlyV4+"eth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"), 0o644)
	got, _ = podProbes(file, func(string) string { return "" })
	if want := []string{"169.254.169.254:80", "1.1.1.1:443", "[2606:4700:4700::1111]:443"}; !slices.Equal(got, want) {
		t.Fatalf("probes %v, want %v", got, want)
	}

	at := &Attester{Forwarded: true, RouteFiles: [2]string{filepath.Join(t.TempDir(), "absent")}}
	if v := at.checkNoDirectRoute(context.Background()); v.Verdict != VerdictFail || !strings.Contains(v.Detail, "reading the routing table") {
		t.Fatalf("without a routing table: %+v, want a failure saying so", v)
	}
}
