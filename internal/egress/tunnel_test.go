package egress

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// connectProxy serves one CONNECT on a loopback port: it sends the
// request it read to got, then answers with head and, if it was a 200,
// runs tunnel on the rest of the connection. It returns the proxy's URL.
func connectProxy(t *testing.T, head string, tunnel func(c net.Conn, br *bufio.Reader), got chan<- *http.Request) *url.URL {
	t.Helper()
	ln := listen(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		got <- req
		io.WriteString(c, head)
		if tunnel != nil {
			tunnel(c, br)
		}
	}()
	return &url.URL{Scheme: "http", User: url.UserPassword("moat", "tok"), Host: ln.Addr().String()}
}

// TestConnectTunnel: the proxy gets CONNECT with the host, port and
// credentials; what the server sends in the same write as the 200 (an
// SSH server speaks first) reaches the client; the end of the client's
// input reaches the server as EOF, and its answer after that still comes.
func TestConnectTunnel(t *testing.T) {
	got := make(chan *http.Request, 1)
	proxyURL := connectProxy(t, "HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-test\r\n", func(c net.Conn, br *bufio.Reader) {
		sent, _ := io.ReadAll(br) // until the client's half-close
		io.WriteString(c, "got: "+string(sent))
	}, got)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := ConnectTunnel(ctx, proxyURL, "git-a.test:22")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var out strings.Builder
	if err := CarryTunnel(ctx, c, strings.NewReader("hello"), &out); err != nil {
		t.Fatal(err)
	}
	if want := "SSH-2.0-test\r\ngot: hello"; out.String() != want {
		t.Fatalf("through the tunnel came %q, want %q", out.String(), want)
	}
	req := <-got
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("moat:tok"))
	if req.Method != http.MethodConnect || req.RequestURI != "git-a.test:22" || req.Host != "git-a.test:22" || req.Header.Get("Proxy-Authorization") != auth {
		t.Fatalf("the proxy got %s %s Host %s %q, want CONNECT git-a.test:22 with %q", req.Method, req.RequestURI, req.Host, req.Header.Get("Proxy-Authorization"), auth)
	}
}

// TestConnectTunnelRefused: a refusal is a TunnelRefusedError with the
// status and the proxy's reason: the rule its X-Moat-Blocked header
// names, else its body's first line.
func TestConnectTunnelRefused(t *testing.T) {
	for _, tc := range []struct {
		name, head, status, reason string
	}{
		{"denied header", "HTTP/1.1 403 Forbidden\r\nX-Moat-Blocked: git-a.test:22 is not an ssh grant's host\r\nContent-Length: 9\r\n\r\nForbidden",
			"403 Forbidden", "git-a.test:22 is not an ssh grant's host"},
		{"body", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 53\r\n\r\nmoat proxy: missing or wrong proxy credentials\nmore\n\n",
			"407 Proxy Authentication Required", "moat proxy: missing or wrong proxy credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxyURL := connectProxy(t, tc.head, nil, make(chan *http.Request, 1))
			_, err := ConnectTunnel(context.Background(), proxyURL, "git-a.test:22")
			var refused *TunnelRefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("got %v, want a TunnelRefusedError", err)
			}
			if refused.Status != tc.status || refused.Reason != tc.reason || refused.HostPort != "git-a.test:22" {
				t.Fatalf("got %+v, want status %q and reason %q", refused, tc.status, tc.reason)
			}
		})
	}
}

// TestConnectTunnelNoProxy: nothing at the proxy's address, or a proxy
// URL it cannot use, is an error that names it.
func TestConnectTunnelNoProxy(t *testing.T) {
	addr := closedPort(t)
	_, err := ConnectTunnel(context.Background(), &url.URL{Scheme: "http", Host: addr}, "git-a.test:22")
	if err == nil || !strings.Contains(err.Error(), "connecting to the proxy at "+addr) {
		t.Fatalf("got %v, want the failed connection to %s", err, addr)
	}
	_, err = ConnectTunnel(context.Background(), &url.URL{Scheme: "https", Host: addr}, "git-a.test:22")
	if err == nil || !strings.Contains(err.Error(), "only http:// proxies") {
		t.Fatalf("got %v, want https refused", err)
	}
}

// TestCarryTunnelEndsWithTheServer: a server that closes the connection
// ends the carrying even while the client's input is still open.
func TestCarryTunnelEndsWithTheServer(t *testing.T) {
	proxyURL := connectProxy(t, "HTTP/1.1 200 OK\r\n\r\nbye", nil, make(chan *http.Request, 1))
	c, err := ConnectTunnel(context.Background(), proxyURL, "git-a.test:22")
	if err != nil {
		t.Fatal(err)
	}
	in, stillOpen := io.Pipe()
	defer stillOpen.Close()
	done := make(chan error, 1)
	var out strings.Builder
	go func() { done <- CarryTunnel(context.Background(), c, in, &out) }()
	select {
	case err := <-done:
		if err != nil || out.String() != "bye" {
			t.Fatalf("got %q and %v, want \"bye\" and no error", out.String(), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel is still carried after the server closed it")
	}
}

// TestCarryTunnelEndsWithItsContext: when ctx ends, the carrying ends
// and the tunnel closes, though neither end has closed it.
func TestCarryTunnelEndsWithItsContext(t *testing.T) {
	closed := make(chan struct{})
	proxyURL := connectProxy(t, "HTTP/1.1 200 OK\r\n\r\n", func(c net.Conn, br *bufio.Reader) {
		io.ReadAll(br)
		close(closed)
	}, make(chan *http.Request, 1))
	c, err := ConnectTunnel(context.Background(), proxyURL, "git-a.test:22")
	if err != nil {
		t.Fatal(err)
	}
	in, stillOpen := io.Pipe()
	defer stillOpen.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- CarryTunnel(ctx, c, in, io.Discard) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel is still carried after its context ended")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the far end's connection is still open")
	}
}
