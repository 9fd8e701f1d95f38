package egress

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestHostAddrs checks that an address the host gains later is known after
// the next refresh a miss triggers, that misses re-read at most once per
// hostAddrsRefresh, and that a failed read keeps what was known.
func TestHostAddrs(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1000, 0)
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("fe80::1%eth0")}
	var reads int
	var fail error
	h := newHostAddrs(func() ([]netip.Addr, error) {
		reads++
		return addrs, fail
	}, func() time.Time { return clock })
	bridge := netip.MustParseAddr("172.18.0.1")
	check := func(a netip.Addr, want bool, wantReads int) {
		t.Helper()
		if got := h.Contains(a); got != want || reads != wantReads {
			t.Fatalf("Contains(%s) = %v after %d reads, want %v after %d", a, got, reads, want, wantReads)
		}
	}
	check(netip.MustParseAddr("192.0.2.2"), true, 1)
	check(netip.MustParseAddr("::ffff:192.0.2.2"), true, 1)
	check(netip.MustParseAddr("fe80::1"), true, 1)
	addrs = append(addrs, bridge) // a bridge created after the start
	check(bridge, false, 1)       // within the second: not re-read
	clock = clock.Add(hostAddrsRefresh)
	check(bridge, true, 2)
	check(netip.MustParseAddr("8.8.8.8"), false, 2)
	clock = clock.Add(hostAddrsRefresh)
	fail = errors.New("netlink")
	check(netip.MustParseAddr("8.8.8.8"), false, 3)
	check(bridge, true, 3)
}

func TestInterfaceAddrs(t *testing.T) {
	t.Parallel()
	addrs, err := interfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a == netip.MustParseAddr("127.0.0.1") {
			return
		}
	}
	t.Fatalf("the interfaces' addresses %v lack 127.0.0.1", addrs)
}
