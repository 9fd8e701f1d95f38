//go:build e2e

package e2e

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// probeNetwork is a Docker network a test creates so that its bypass
// probes aim at addresses a route would reach: the host's side of the
// network's bridge has an IPv4 address (chosen by the engine) and an IPv6
// one in a random unique-local prefix. A container on the network reaches
// both; an agent with no network must not.
type probeNetwork struct {
	name     string
	gw4, gw6 netip.Addr
}

// newProbeNetwork creates the network and registers its removal.
func newProbeNetwork(t *testing.T) *probeNetwork {
	t.Helper()
	var id [5]byte // RFC 4193: fd00::/8 and a random 40-bit global ID
	crand.Read(id[:])
	prefix := fmt.Sprintf("fd%02x:%02x%02x:%02x%02x::/64", id[0], id[1], id[2], id[3], id[4])
	n := &probeNetwork{name: uniqueName(t)}
	netID, err := docker(t, "network", "create", "--ipv6", "--subnet", prefix, "--label", "moat.e2e="+n.name, n.name)
	if err != nil {
		t.Fatalf("creating the probe network: %v", err)
	}
	t.Cleanup(func() {
		if _, err := docker(t, "network", "rm", n.name); err != nil {
			t.Errorf("removing the probe network: %v", err)
		}
	})
	ifc, err := net.InterfaceByName("br-" + netID[:12])
	if err != nil {
		t.Fatalf("finding the probe network's bridge: %v", err)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP)
		switch ip = ip.Unmap(); {
		case ip.Is4():
			n.gw4 = ip
		case ip.Is6() && !ip.IsLinkLocalUnicast():
			n.gw6 = ip
		}
	}
	if !n.gw4.IsValid() || !n.gw6.IsValid() {
		t.Fatalf("the probe network's bridge has addresses %v, want an IPv4 and a unique-local IPv6 one", addrs)
	}
	return n
}

// freebind lets a listener bind the bridge's IPv6 address while it is
// still tentative (the bridge has no port up until a container joins).
func freebind(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1) })
	if err != nil {
		return err
	}
	return serr
}

// serveHTTP serves body on addr, port 0, and returns the URL.
func serveHTTP(t *testing.T, addr netip.Addr, body string) string {
	t.Helper()
	lc := net.ListenConfig{Control: freebind}
	ln, err := lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// dnsServer is a resolver the test controls: it answers A queries for one
// name with one address, and refuses everything else. It counts the
// queries it got.
type dnsServer struct {
	name    string // lower case, with the final dot
	answer  netip.Addr
	queries atomic.Int64
}

// serveDNS runs a dnsServer on addr:53 (UDP).
func serveDNS(t *testing.T, addr netip.Addr, name string, answer netip.Addr) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(addr, 53).String())
	if err != nil {
		t.Fatalf("starting the test's resolver: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &dnsServer{name: strings.ToLower(name) + ".", answer: answer}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			d.queries.Add(1)
			if reply := d.reply(buf[:n]); reply != nil {
				pc.WriteTo(reply, from)
			}
		}
	}()
	return d
}

// reply answers one query: the address for an A query of d.name, an empty
// answer for its other types, NXDOMAIN for other names; nil for what is
// not a single-question query.
func (d *dnsServer) reply(q []byte) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1:])
	r := append([]byte{q[0], q[1], 0x84 | q[2]&0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, question...)
	switch {
	case strings.ToLower(strings.Join(labels, ".")+".") != d.name:
		r[3] = 3 // NXDOMAIN
	case qtype == 1:
		r[7] = 1
		a4 := d.answer.As4()
		r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		r = append(r, a4[:]...)
	}
	return r
}
