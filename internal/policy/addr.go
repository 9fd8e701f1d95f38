package policy

import (
	"fmt"
	"net/netip"
)

// blockedRange is a destination class blocked unless explicitly allowed.
type blockedRange struct {
	prefix netip.Prefix
	class  string
}

func r(prefix, class string) blockedRange {
	return blockedRange{netip.MustParsePrefix(prefix), class}
}

// blockedRanges are the special-purpose ranges of IANA's IPv4 and IPv6
// registries that are not globally reachable, plus the cloud metadata
// addresses. They are checked in order, so the metadata address is named
// before the link-local range that contains it. IPv6 addresses that embed
// an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by that
// address too (see embedded). Any other IPv6 address outside 2000::/3, the
// only range IANA allocates for global unicast, is reserved.
var blockedRanges = []blockedRange{
	r("169.254.169.254/32", "the cloud metadata address"),
	r("168.63.129.16/32", "a cloud platform address (Azure's host endpoint)"),
	r("0.0.0.0/8", `an unspecified or "this network" address`),
	r("10.0.0.0/8", "a private address (RFC 1918)"),
	r("100.64.0.0/10", "a carrier-grade NAT address (RFC 6598)"),
	r("127.0.0.0/8", "a loopback address"),
	r("169.254.0.0/16", "a link-local address"),
	r("172.16.0.0/12", "a private address (RFC 1918)"),
	r("192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24)"),
	r("192.0.2.0/24", "a documentation address (TEST-NET-1)"),
	r("192.88.99.0/24", "a deprecated 6to4 relay address (192.88.99.0/24)"),
	r("192.168.0.0/16", "a private address (RFC 1918)"),
	r("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
	r("198.51.100.0/24", "a documentation address (TEST-NET-2)"),
	r("203.0.113.0/24", "a documentation address (TEST-NET-3)"),
	r("224.0.0.0/4", "a multicast address"),
	r("240.0.0.0/4", "a reserved or broadcast address"),

	r("fd00:ec2::254/128", "the cloud metadata address"),
	r("::/128", "an unspecified address"),
	r("::1/128", "a loopback address"),
	r("::/96", "an IPv4-compatible address (deprecated)"),
	r("::ffff:0:0:0/96", "an IPv4-translated address (RFC 2765)"),
	r("64:ff9b:1::/48", "a local-use IPv4/IPv6 translation address (64:ff9b:1::/48)"),
	r("100::/64", "a discard-only address (100::/64)"),
	r("100:0:0:1::/64", "a dummy address (100:0:0:1::/64)"),
	r("2001:2::/48", "a benchmarking address (2001:2::/48)"),
	r("2001:10::/28", "a deprecated ORCHID address (2001:10::/28)"),
	r("2001:db8::/32", "a documentation address (2001:db8::/32)"),
	r("3fff::/20", "a documentation address (3fff::/20)"),
	r("5f00::/16", "a segment-routing address (5f00::/16)"),
	r("fc00::/7", "a unique local address (fc00::/7)"),
	r("fe80::/10", "a link-local address"),
	r("fec0::/10", "a site-local address (deprecated)"),
	r("ff00::/8", "a multicast address"),
}

var (
	globalUnicast = netip.MustParsePrefix("2000::/3")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour     = netip.MustParsePrefix("2002::/16")
	teredo        = netip.MustParsePrefix("2001::/32")
)

// embedded returns the IPv4 addresses an IPv6 address leads to, with how:
// the well-known NAT64 prefix's gateway forwards to the last four bytes,
// 6to4 (2002::/16) to bytes 2 to 6, and Teredo (2001::/32) to its server
// (bytes 4 to 8) and its client (the last four bytes, inverted).
func embedded(addr netip.Addr) (kind string, v4 []netip.Addr) {
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		return "a NAT64 address", []netip.Addr{netip.AddrFrom4([4]byte(b[12:]))}
	case sixToFour.Contains(addr):
		return "a 6to4 address", []netip.Addr{netip.AddrFrom4([4]byte(b[2:6]))}
	case teredo.Contains(addr):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return "a Teredo address", []netip.Addr{netip.AddrFrom4([4]byte(b[4:8])), netip.AddrFrom4(client)}
	}
	return "", nil
}

// ownClass names the host's own addresses.
const ownClass = "an address of the host moat runs on"

// classify reports whether addr is blocked unless explicitly allowed, and
// names its class. own is true for the host's own addresses (Local, and
// loopback), which only a rule naming exactly that address may allow.
// Addr must already be unmapped and zone-free.
func (p *Policy) classify(addr netip.Addr) (class string, blocked, own bool) {
	addr = addr.Unmap()
	if class, own := p.classifyOne(addr); class != "" {
		return class, true, own
	}
	if kind, v4s := embedded(addr); kind != "" {
		for _, v4 := range v4s {
			if class, own := p.classifyOne(v4); class != "" {
				return fmt.Sprintf("%s for %s, %s", kind, v4, class), true, own
			}
		}
	}
	return "", false, false
}

// classifyOne classifies one address, without looking inside it.
func (p *Policy) classifyOne(addr netip.Addr) (class string, own bool) {
	if addr.IsLoopback() || p.Local != nil && p.Local(addr) {
		if addr.IsLoopback() {
			return "a loopback address", true
		}
		return ownClass, true
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(addr) {
			return r.class, false
		}
	}
	if addr.Is6() && !globalUnicast.Contains(addr) && !nat64.Contains(addr) {
		return "a reserved IPv6 address (outside 2000::/3)", false
	}
	for _, pr := range p.Private {
		if pr.Contains(addr) {
			return "an address reserved for moat (another run's network or the host)", false
		}
	}
	return "", false
}
