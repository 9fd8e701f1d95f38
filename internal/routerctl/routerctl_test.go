package routerctl

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/testutil"
)

// identServer answers the router's identity path with id, as a router of
// the home whose HomeID is id does; "" answers as a server that is not a
// router.
func identServer(t *testing.T, id string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id != "" && r.Host == IdentHost && r.URL.Path == IdentPath {
			w.Header().Set(IdentHeader, id)
		}
		w.Write([]byte("hello"))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestProbeTellsARouterOfThisHomeFromAnythingElse(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		addr string
		want Found
	}{
		{"nothing listens", testutil.FreeLoopbackAddr(t), Nothing},
		{"this home's router", identServer(t, HomeID(home)), Ours},
		{"another home's router", identServer(t, HomeID(home+"2")), OtherHome},
		{"another server", identServer(t, ""), Foreign},
	}
	for _, tt := range tests {
		if got, err := Probe(context.Background(), tt.addr, home); got != tt.want {
			t.Errorf("%s: got %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
	// A server that takes connections but speaks no HTTP is not a router.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-x\r\n"))
			c.Close()
		}
	}()
	if got, err := Probe(context.Background(), ln.Addr().String(), home); got != Foreign || err == nil {
		t.Errorf("a server that is not HTTP: got %v, %v; want Foreign with the reason", got, err)
	}
}

// Ensure never starts a router on an address another server holds: the
// run goes on with the reason, for one warning line.
func TestEnsureOnATakenAddress(t *testing.T) {
	home := t.TempDir()
	for addr, want := range map[string]string{
		identServer(t, ""):                   " is taken by a server that is not a moat router",
		identServer(t, HomeID(home+"other")): " is taken by the moat router of another moat home",
	} {
		s := Starter{Home: home, Listen: addr, Exe: "/nonexistent/moat"}
		if err := s.Ensure(context.Background()); err == nil || err.Error() != addr+want {
			t.Errorf("got %v, want %q", err, addr+want)
		}
	}
	// An address that is ours already needs nothing started.
	s := Starter{Home: home, Listen: identServer(t, HomeID(home)), Exe: "/nonexistent/moat"}
	if err := s.Ensure(context.Background()); err != nil {
		t.Errorf("this home's router: got %v, want it used", err)
	}
}

// A router that ends at once (here: a binary that is not moat) is
// reported with the last line it wrote.
func TestEnsureReportsARouterThatEnds(t *testing.T) {
	home := t.TempDir()
	s := Starter{Home: home, Listen: testutil.FreeLoopbackAddr(t), Exe: "/bin/false"}
	err := s.Ensure(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "moat router ended at once: no output") {
		t.Errorf("got %v, want the router's end reported", err)
	}
}

func TestLockExcludesAnotherHolder(t *testing.T) {
	home := t.TempDir()
	unlock, err := Lock(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, home); err == nil {
		t.Fatal("a second holder got the lock")
	}
	unlock()
	again, err := Lock(context.Background(), home)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}

func TestURL(t *testing.T) {
	for _, tt := range []struct {
		listen, name string
		port         int
		first        bool
		want         string
	}{
		{"127.0.0.1:8880", "web", 3000, true, "http://web.moat.localhost:8880/"},
		{"127.0.0.1:8880", "web", 8080, false, "http://8080.web.moat.localhost:8880/"},
		{"[::1]:9000", "a.b", 3000, true, "http://a.b.moat.localhost:9000/"},
	} {
		if got := URL(tt.listen, tt.name, tt.port, tt.first); got != tt.want {
			t.Errorf("URL(%q, %q, %d, %v) = %q, want %q", tt.listen, tt.name, tt.port, tt.first, got, tt.want)
		}
	}
}
