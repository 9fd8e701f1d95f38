package sshwatch

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestConfirmComparesHostAndPort checks how a grant's host name maps to
// the address a tunnel went to.
func TestConfirmComparesHostAndPort(t *testing.T) {
	t.Parallel()
	key := newHostKey(t, 1)
	tests := []struct {
		tunnel, host string
		want         bool
	}{
		{"github.com:22", "github.com", true},
		{"github.com:22", "GitHub.COM.", true},
		{"GITHUB.com.:22", "github.com:22", true},
		{"github.com:22", "[github.com]:22", true},
		{"github.com:22", "github.com:2222", false},
		{"github.com:2222", "github.com", false},
		{"github.com:2222", "[github.com]:2222", true},
		{"github.com:22", "gitlab.com", false},
		{"github.com:22", "github.com.evil.example", false},
		{"140.82.121.4:22", "github.com", false}, // names are not resolved
		{"[::1]:22", "::1", true},
		{"[::1]:22", "[::1]", true},
		{"[0:0::1]:22", "[::1]:22", true},
		{"[::ffff:127.0.0.1]:22", "127.0.0.1", true},
		{"127.0.0.1:022", "127.0.0.1:22", true},
		{"github.com:22", "", false},
	}
	for _, tt := range tests {
		var r Registry
		release, err := r.Record(tt.tunnel, key)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Confirm(tt.host, key)
		if got := err == nil; got != tt.want {
			t.Errorf("tunnel to %q, Confirm(%q): %v; want confirmed %v", tt.tunnel, tt.host, err, tt.want)
		}
		release()
	}
}

// TestConfirmLastsWhileTheTunnelIsOpen records two tunnels to one host:
// each key is confirmed while its tunnel is open, and not after.
func TestConfirmLastsWhileTheTunnelIsOpen(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := newHostKey(t, 1), newHostKey(t, 2), newHostKey(t, 3)
	var r Registry
	release1, err := r.Record("git.example:22", k1)
	if err != nil {
		t.Fatal(err)
	}
	release2, err := r.Record("git.example:22", k2)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []ssh.PublicKey{k1, k2} {
		if err := r.Confirm("git.example", k); err != nil {
			t.Fatalf("Confirm %s with both tunnels open: %v", fingerprint(k), err)
		}
	}
	err = r.Confirm("git.example", k3)
	if err == nil || !strings.Contains(err.Error(), "presented host key "+fingerprint(k3)) ||
		!strings.Contains(err.Error(), fingerprint(k1)) || !strings.Contains(err.Error(), fingerprint(k2)) {
		t.Fatalf("Confirm of a key no tunnel presented: %v; want an error naming it and the two presented", err)
	}
	release1()
	if err := r.Confirm("git.example", k1); err == nil {
		t.Fatal("Confirm of a closed tunnel's key succeeded")
	}
	if err := r.Confirm("git.example", k2); err != nil {
		t.Fatalf("Confirm of the open tunnel's key: %v", err)
	}
	release2()
	if err := r.Confirm("git.example", k2); err == nil || err.Error() != "no open SSH tunnel of this run goes to git.example:22" {
		t.Fatalf("Confirm with no tunnel open: %v", err)
	}
}

// TestRegistryBounds checks MaxTunnels: beyond it Record refuses and
// Watch passes the connection through unwatched, which Confirm's error
// then says.
func TestRegistryBounds(t *testing.T) {
	t.Parallel()
	key := newHostKey(t, 1)
	r := &Registry{MaxTunnels: 2}
	release, err := r.Record("a.example:22", key)
	if err != nil {
		t.Fatal(err)
	}
	watchedSide, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	watched := r.Watch("b.example:22", watchedSide)
	if watched == watchedSide {
		t.Fatal("Watch with room left did not watch")
	}
	if _, err := r.Record("c.example:22", key); !errors.Is(err, ErrFull) {
		t.Fatalf("Record beyond MaxTunnels: %v, want ErrFull", err)
	}
	other, otherServer := net.Pipe()
	t.Cleanup(func() { other.Close(); otherServer.Close() })
	if got := r.Watch("c.example:22", other); got != other {
		t.Fatal("Watch beyond MaxTunnels returned a wrapper, want the connection itself")
	}
	if err := r.Confirm("c.example", key); err == nil || !strings.Contains(err.Error(), "1 tunnel went unwatched: more than 2 were open at once") {
		t.Fatalf("Confirm after an unwatched tunnel: %v", err)
	}
	release()
	watched.Close()
	for _, host := range []string{"c.example:22", "d.example:22"} {
		if _, err := r.Record(host, key); err != nil {
			t.Fatalf("Record after two tunnels closed: %v", err)
		}
	}
}

// TestWatchRecordsAsTheStreamGoes reads a tunnel's server side through
// Watch and asks Confirm at each stage: pending, recorded before the
// read that carried the key returned, gone when closed. A read deadline
// that expires (as the proxy sets one to stop a read) does not end the
// watch.
func TestWatchRecordsAsTheStreamGoes(t *testing.T) {
	t.Parallel()
	key := newHostKey(t, 1)
	var reports []string
	r := &Registry{}
	r.OnResult = func(addr string, k ssh.PublicKey, err error) {
		reports = append(reports, fmt.Sprintf("%s %s %v confirmed:%v", addr, fingerprint(k), err, r.Confirm(addr, key) == nil))
	}
	proxySide, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	upstream := r.Watch("Git.Example:22", proxySide)

	serverSends(t, server, upstream, join([]byte(ident), offering("curve25519-sha256")))
	if err := r.Confirm("git.example", key); err == nil || !strings.Contains(err.Error(), "one has not shown its host key yet") {
		t.Fatalf("Confirm before the reply: %v", err)
	}
	_ = upstream.SetReadDeadline(aLongTimeAgo)
	if _, err := upstream.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("a read past its deadline: %v, want a timeout", err)
	}
	_ = upstream.SetReadDeadline(noDeadline)
	serverSends(t, server, upstream, reply(msgKexReply, key, curve25519Eph))
	if err := r.Confirm("git.example", key); err != nil {
		t.Fatalf("Confirm after the reply: %v", err)
	}
	upstream.Close()
	want := []string{"git.example:22 " + fingerprint(key) + " <nil> confirmed:true"}
	if err := r.Confirm("git.example", key); err == nil || fmt.Sprint(reports) != fmt.Sprint(want) {
		t.Fatalf("after Close: Confirm %v, reports %q; want an error and reports %q", err, reports, want)
	}
}

// TestWatchReportsWhyNoKey checks the tunnels that show no key: the
// reason is reported once, and Confirm gives it while the tunnel is open.
func TestWatchReportsWhyNoKey(t *testing.T) {
	t.Parallel()
	key := newHostKey(t, 1)
	var reports []error
	r := &Registry{OnResult: func(_ string, _ ssh.PublicKey, err error) { reports = append(reports, err) }}

	proxySide, server := net.Pipe()
	upstream := r.Watch("git.example:22", proxySide)
	serverSends(t, server, upstream, []byte("HTTP/1.1 400 Bad Request\r\n\r\n\x00"))
	if err := r.Confirm("git.example", key); err == nil || !strings.Contains(err.Error(), "one showed no host key: the server does not speak SSH 2.0: a NUL in a line") {
		t.Fatalf("Confirm of a tunnel to an HTTP server: %v", err)
	}
	server.Close()
	if _, err := upstream.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read at the end: %v", err)
	}
	upstream.Close()

	proxySide, server = net.Pipe()
	upstream = r.Watch("git.example:22", proxySide)
	serverSends(t, server, upstream, []byte(ident))
	server.Close()
	if _, err := upstream.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read at the end: %v", err)
	}
	if err := r.Confirm("git.example", key); err == nil || !strings.Contains(err.Error(), "the stream ended") {
		t.Fatalf("Confirm of a tunnel the server closed: %v", err)
	}
	upstream.Close()
	upstream.Close()

	if len(reports) != 2 || !errors.Is(reports[0], ErrNotSSH) || !errors.Is(reports[1], ErrNoHostKey) {
		t.Fatalf("reports %v, want ErrNotSSH then ErrNoHostKey", reports)
	}
}

// TestRegistryConcurrentUse records, confirms and releases from many
// goroutines (run with -race): each sees its own record while it holds it,
// and none is left.
func TestRegistryConcurrentUse(t *testing.T) {
	t.Parallel()
	keys := []ssh.PublicKey{newHostKey(t, 1), newHostKey(t, 2), newHostKey(t, 3)}
	var r Registry
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			host := fmt.Sprintf("h%d.example", i%4)
			for range 50 {
				key := keys[i%len(keys)]
				release, err := r.Record(host, key)
				if err != nil {
					t.Error(err)
					return
				}
				if err := r.Confirm(host, key); err != nil {
					t.Errorf("Confirm of a held record: %v", err)
				}
				release()
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		for _, k := range keys {
			if err := r.Confirm(fmt.Sprintf("h%d.example", i), k); err == nil {
				t.Fatal("a record outlived its release")
			}
		}
	}
}
