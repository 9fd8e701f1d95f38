package policy

import "net/netip"

// blockedRange is a destination class blocked unless explicitly allowed.
type blockedRange struct {
	prefix netip.Prefix
	class  string
}

// blockedRanges are checked in order, so the metadata address is named
// before the link-local range that contains it. IPv4-mapped IPv6 addresses
// are unmapped before the check, so ::ffff:127.0.0.1 is loopback.
var blockedRanges = []blockedRange{
	{netip.MustParsePrefix("169.254.169.254/32"), "the cloud metadata address"},
	{netip.MustParsePrefix("0.0.0.0/8"), `an unspecified or "this network" address`},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address (RFC 1918)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address (RFC 1918)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address (deprecated)"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local address (fc00::/7)"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// nat64 is the well-known NAT64 prefix; the gateway forwards to the IPv4
// address in the last four bytes, so that address is what gets classified.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// classify reports whether addr is blocked unless explicitly allowed, and
// names its class. Addr must already be unmapped and zone-free.
func (p *Policy) classify(addr netip.Addr) (string, bool) {
	if nat64.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(addr) {
			return r.class, true
		}
	}
	for _, pr := range p.Private {
		if pr.Contains(addr) {
			return "an address reserved for moat (another run's network or the host)", true
		}
	}
	return "", false
}
