package egress

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// hostAddrsRefresh bounds how often a miss re-reads the interfaces.
const hostAddrsRefresh = time.Second

// hostAddrs knows the addresses of the host's interfaces (engine bridges
// included): the proxy runs in the host's network namespace, where they
// reach the host's own services. It reads them at start and again on a
// miss, at most once per hostAddrsRefresh, so an interface added later (a
// new bridge) is known within a second; the proxy also refuses any
// connection whose two ends turn out to be the same address
// (policy.CheckOwnAddr), which covers the rest of that second.
type hostAddrs struct {
	list func() ([]netip.Addr, error) // nil means the interfaces' addresses
	now  func() time.Time             // nil means time.Now

	mu   sync.RWMutex
	set  map[netip.Addr]struct{}
	read time.Time
}

func newHostAddrs(list func() ([]netip.Addr, error), now func() time.Time) *hostAddrs {
	h := &hostAddrs{list: list, now: now}
	if h.list == nil {
		h.list = interfaceAddrs
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.refresh()
	return h
}

// Contains reports whether addr is one of the host's addresses.
func (h *hostAddrs) Contains(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	h.mu.RLock()
	_, ok := h.set[addr]
	stale := h.now().Sub(h.read) >= hostAddrsRefresh
	h.mu.RUnlock()
	if ok || !stale {
		return ok
	}
	h.refresh()
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok = h.set[addr]
	return ok
}

// refresh re-reads the addresses; on an error it keeps the ones it had.
func (h *hostAddrs) refresh() {
	addrs, err := h.list()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.read = h.now()
	if err != nil {
		return
	}
	set := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		set[a.WithZone("").Unmap()] = struct{}{}
	}
	h.set = set
}

// interfaceAddrs lists the addresses of every interface of the host.
func interfaceAddrs() ([]netip.Addr, error) {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}
