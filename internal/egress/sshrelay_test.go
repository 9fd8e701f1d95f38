package egress

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sshAgentProxy is an HTTP server standing for the proxy's port: with
// the right token, it answers SSHAgentPath with 200 and then echoes what
// it reads; otherwise 407. It returns its address.
func sshAgentProxy(t *testing.T, token string) string {
	t.Helper()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("moat:"+token))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != want || r.Host != AttestHost {
			http.Error(w, "moat proxy: missing or wrong proxy credentials", http.StatusProxyAuthRequired)
			return
		}
		if r.URL.Path != SSHAgentPath || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
		io.Copy(c, rw)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// serveSSHAgentRelay serves a new ssh-agent socket, relayed to proxyAddr
// with token, until the test ends or cancel is called; done closes when
// ServeSSHAgentRelay returned.
func serveSSHAgentRelay(t *testing.T, proxyAddr, token string) (path string, cancel func(), done <-chan struct{}) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "ssh", "agent.sock")
	ln, err := ListenSSHAgent(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { ServeSSHAgentRelay(ctx, ln, proxyAddr, token); close(served) }()
	t.Cleanup(func() { cancel(); <-served })
	return path, cancel, served
}

func dialAgent(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.UnixConn)
}

// TestSSHAgentRelayCarries: a connection to the socket reaches the
// proxy's SSHAgentPath with the token, both ways, for each connection,
// and the client's half-close reaches the proxy.
func TestSSHAgentRelayCarries(t *testing.T) {
	path, _, _ := serveSSHAgentRelay(t, sshAgentProxy(t, "tok"), "tok")
	for i := range 2 {
		c := dialAgent(t, path)
		if _, err := io.WriteString(c, "request "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		got, err := io.ReadAll(c)
		if want := "request " + string(rune('a'+i)); string(got) != want || err != nil {
			t.Fatalf("connection %d: got %q (%v), want the echo %q", i, got, err, want)
		}
	}
}

// TestSSHAgentRelayRefused: a proxy that refuses (here, a wrong token)
// closes the client's connection without a byte.
func TestSSHAgentRelayRefused(t *testing.T) {
	path, _, _ := serveSSHAgentRelay(t, sshAgentProxy(t, "tok"), "wrong")
	c := dialAgent(t, path)
	io.WriteString(c, "request")
	got, err := io.ReadAll(c) // EOF, or a reset: the relay did not read the request
	if len(got) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("got %q (%v), want the connection closed", got, err)
	}
}

// TestSSHAgentRelayStops: when ctx ends, the open connections and the
// socket's listener close and ServeSSHAgentRelay returns.
func TestSSHAgentRelayStops(t *testing.T) {
	path, cancel, done := serveSSHAgentRelay(t, sshAgentProxy(t, "tok"), "tok")
	c := dialAgent(t, path)
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeSSHAgentRelay still runs after its context ended")
	}
	if n, err := c.Read(buf); err != io.EOF {
		t.Fatalf("the open connection read %d bytes (%v), want EOF", n, err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		t.Fatal("the socket still accepts connections")
	}
}

// TestListenSSHAgent: the directory is made 0755 and the socket is 0666,
// whatever the umask; a socket left there is replaced.
func TestListenSSHAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh", "agent.sock")
	for range 2 { // the second finds the first's socket
		ln, err := ListenSSHAgent(path)
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		sock, err := os.Lstat(path)
		if err != nil {
			t.Fatalf("closing the listener removed the socket: %v", err)
		}
		dir, err := os.Lstat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if sock.Mode() != fs.ModeSocket|0o666 || dir.Mode() != fs.ModeDir|0o755 {
			t.Fatalf("socket %s in directory %s, want %s in %s", sock.Mode(), dir.Mode(), fs.ModeSocket|0o666, fs.ModeDir|0o755)
		}
	}
}

// TestListenSSHAgentRefuses: a directory the socket could be replaced
// in, or something other than a socket at its path, is refused.
func TestListenSSHAgentRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) // dir is the socket's directory, not yet made
		want  string
	}{
		{"directory is a link", func(t *testing.T, dir string) {
			must(t, os.Symlink(t.TempDir(), dir))
		}, "is a symbolic link"},
		{"directory is a file", func(t *testing.T, dir string) {
			must(t, os.WriteFile(dir, nil, 0o644))
		}, "is not a directory"},
		{"directory others can write", func(t *testing.T, dir string) {
			must(t, os.Mkdir(dir, 0o755))
			must(t, os.Chmod(dir, 0o777))
		}, "can be written to by other users"},
		{"a file at the path", func(t *testing.T, dir string) {
			must(t, os.Mkdir(dir, 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "agent.sock"), nil, 0o644))
		}, "something other than a socket is there"},
		{"relative path", nil, "must be absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ssh")
			path := filepath.Join(dir, "agent.sock")
			if tc.setup != nil {
				tc.setup(t, dir)
			} else {
				path = "ssh/agent.sock"
			}
			ln, err := ListenSSHAgent(path)
			if err == nil {
				ln.Close()
				t.Fatalf("ListenSSHAgent(%s) succeeded, want %q", path, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
