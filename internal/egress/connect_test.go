package egress

import (
	"context"
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// inNewNetns runs f on a thread moved into a network namespace of its own,
// which has a loopback that is down and no routes: the agent's namespace
// without its proxy. The thread is never returned to the runtime.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	failed := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			failed <- err
			return
		}
		f()
		failed <- nil
	}()
	if err := <-failed; errors.Is(err, unix.EPERM) {
		t.Skip("creating a network namespace needs CAP_SYS_ADMIN:", err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// TestConnectAtOnceWithoutARoute: in a namespace with no route the real
// kernel refuses both direct connections at once, and no-direct-route,
// reading that namespace's own routing tables, passes without a clock.
func TestConnectAtOnceWithoutARoute(t *testing.T) {
	var v CheckVerdict
	var errs []error
	inNewNetns(t, func() {
		for _, addr := range directTargets {
			_, err := connectAtOnce(context.Background(), "tcp", addr)
			errs = append(errs, err)
		}
		at := &Attester{RouteFiles: [2]string{"/proc/thread-self/net/route", "/proc/thread-self/net/ipv6_route"}}
		v = at.checkNoDirectRoute(context.Background())
	})
	for i, err := range errs {
		if !errors.Is(err, syscall.ENETUNREACH) && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.EAFNOSUPPORT) {
			t.Errorf("connectAtOnce(%s) = %v, want network unreachable", directTargets[i], err)
		}
	}
	wantVerdict(t, v, "")
}

// TestConnectAtOnceWithARoute: with a route out the connection is sent,
// not refused, and no-direct-route fails at once naming it (the host's
// namespace, if it has a default route).
func TestConnectAtOnceWithARoute(t *testing.T) {
	table, err := os.ReadFile("/proc/net/route")
	if err != nil {
		t.Skip(err)
	}
	if _, ok := defaultRouteV4(table); !ok {
		t.Skip("this host has no default IPv4 route")
	}
	c, err := connectAtOnce(context.Background(), "tcp", directTargets[0])
	if err == nil {
		c.Close()
		t.Skip("the connection completed at once") // a transparent proxy on this host
	}
	if !errors.Is(err, syscall.EINPROGRESS) {
		t.Fatalf("connectAtOnce(%s) = %v, want EINPROGRESS", directTargets[0], err)
	}
	if why := directFails(context.Background(), connectAtOnce, directTargets[0]); why != "a direct connection to 1.1.1.1:443 was sent out rather than refused: a route out exists" {
		t.Fatalf("directFails = %q", why)
	}
}

func TestConnectAtOnceBadAddress(t *testing.T) {
	if _, err := connectAtOnce(context.Background(), "tcp", "example.com:443"); err == nil {
		t.Fatal("a name, not an address, was dialled")
	}
}
