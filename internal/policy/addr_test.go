package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestSpecialPurposeRanges checks one address in (and, where it matters,
// just outside) every special-purpose range, in both modes: each is
// blocked with its class, and its neighbours are public.
func TestSpecialPurposeRanges(t *testing.T) {
	t.Parallel()
	blocked := []struct{ addr, class string }{
		{"0.1.2.3", `an unspecified or "this network" address`},
		{"10.255.255.255", "a private address (RFC 1918)"},
		{"100.64.0.0", "a carrier-grade NAT address (RFC 6598)"},
		{"127.0.0.1", "a loopback address"},
		{"169.254.0.1", "a link-local address"},
		{"169.254.169.254", "the cloud metadata address"},
		{"168.63.129.16", "a cloud platform address (Azure's host endpoint)"},
		{"172.16.0.0", "a private address (RFC 1918)"},
		{"192.0.0.9", "an IETF protocol assignment (192.0.0.0/24)"},
		{"192.0.0.170", "an IETF protocol assignment (192.0.0.0/24)"},
		{"192.0.2.2", "a documentation address (TEST-NET-1)"},
		{"192.88.99.1", "a deprecated 6to4 relay address (192.88.99.0/24)"},
		{"192.168.255.255", "a private address (RFC 1918)"},
		{"198.18.0.1", "a benchmarking address (198.18.0.0/15)"},
		{"198.19.255.255", "a benchmarking address (198.18.0.0/15)"},
		{"198.51.100.1", "a documentation address (TEST-NET-2)"},
		{"203.0.113.1", "a documentation address (TEST-NET-3)"},
		{"224.0.0.251", "a multicast address"},
		{"239.255.255.250", "a multicast address"},
		{"240.0.0.1", "a reserved or broadcast address"},
		{"255.255.255.255", "a reserved or broadcast address"},
		{"::", "an unspecified address"},
		{"::1", "a loopback address"},
		{"::8.8.8.8", "an IPv4-compatible address (deprecated)"},
		{"::ffff:0:8.8.8.8", "an IPv4-translated address (RFC 2765)"},
		{"64:ff9b:1::808:808", "a local-use IPv4/IPv6 translation address (64:ff9b:1::/48)"},
		{"100::1", "a discard-only address (100::/64)"},
		{"100:0:0:1::1", "a dummy address (100:0:0:1::/64)"},
		{"2001:2::1", "a benchmarking address (2001:2::/48)"},
		{"2001:10::1", "a deprecated ORCHID address (2001:10::/28)"},
		{"2001:db8::1", "a documentation address (2001:db8::/32)"},
		{"3fff::1", "a documentation address (3fff::/20)"},
		{"5f00::1", "a segment-routing address (5f00::/16)"},
		{"fc00::1", "a unique local address (fc00::/7)"},
		{"fd00:ec2::254", "the cloud metadata address"},
		{"fe80::1", "a link-local address"},
		{"fec0::1", "a site-local address (deprecated)"},
		{"ff02::1", "a multicast address"},
		{"4000::1", "a reserved IPv6 address (outside 2000::/3)"},
		{"1::1", "a reserved IPv6 address (outside 2000::/3)"},
		{"e000::1", "a reserved IPv6 address (outside 2000::/3)"},
	}
	public := []string{
		"1.1.1.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0",
		"168.63.129.15", "168.63.129.17", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0",
		"192.0.1.255", "192.0.3.0", "192.88.98.255", "192.167.255.255", "192.169.0.0", "198.17.255.255",
		"198.20.0.0", "198.51.99.255", "198.51.101.0", "203.0.112.255", "203.0.114.0", "223.255.255.255",
		"2606:4700::1", "2001:4860:4860::8888", "2001:db7:ffff::1", "2001:db9::1", "3fff:1000::1", "2001:3::1",
		"64:ff9b::808:808",
	}
	for _, mode := range []Mode{Strict, Permissive} {
		p := mustNew(t, mode, nil, nil)
		for _, b := range blocked {
			addr := netip.MustParseAddr(b.addr)
			want := Decision{
				Rule: fmt.Sprintf(`"x.example" resolves to %s, %s`, addr, b.class),
			}
			if got := p.CheckAddr("x.example", addr, 443); got != want {
				t.Errorf("%s CheckAddr(%s):\ngot  %+v\nwant %+v", mode, b.addr, got, want)
			}
			if got := p.CheckHost(b.addr, 443); got.Allowed {
				t.Errorf("%s CheckHost(%s) allowed: %+v", mode, b.addr, got)
			}
		}
		for _, a := range public {
			if got := p.CheckAddr("x.example", netip.MustParseAddr(a), 443); !got.Allowed {
				t.Errorf("%s CheckAddr(%s) blocked a public address: %+v", mode, a, got)
			}
		}
	}
}

// TestEmbeddedIPv4 checks that an IPv6 address leading to an IPv4 one is
// judged by that address: IPv4-mapped, NAT64 (64:ff9b::/96), 6to4
// (2002::/16, bytes 2 to 6) and Teredo (2001::/32: the server in bytes 4
// to 8, the client inverted in the last four).
func TestEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, class string }{
		{"::ffff:127.0.0.1", "a loopback address"},
		{"::ffff:169.254.169.254", "the cloud metadata address"},
		{"64:ff9b::a9fe:a9fe", "a NAT64 address for 169.254.169.254, the cloud metadata address"},
		{"64:ff9b::7f00:1", "a NAT64 address for 127.0.0.1, a loopback address"},
		{"64:ff9b::c000:202", "a NAT64 address for 192.0.2.2, a documentation address (TEST-NET-1)"},
		{"2002:a9fe:a9fe::1", "a 6to4 address for 169.254.169.254, the cloud metadata address"},
		{"2002:0a00:0001:1::1", "a 6to4 address for 10.0.0.1, a private address (RFC 1918)"},
		{"2002:7f00:1::", "a 6to4 address for 127.0.0.1, a loopback address"},
		{"2002:c000:0201::1", "a 6to4 address for 192.0.2.1, a documentation address (TEST-NET-1)"},
		// Teredo: server 10.0.0.1, client 8.8.8.8 (inverted: f7f7:f7f7).
		{"2001:0:a00:1:0:0:f7f7:f7f7", "a Teredo address for 10.0.0.1, a private address (RFC 1918)"},
		// Teredo: server 8.8.8.8, client 127.0.0.1 (inverted: 80ff:fffe).
		{"2001:0:808:808:0:0:80ff:fffe", "a Teredo address for 127.0.0.1, a loopback address"},
		// Teredo: server 8.8.8.8, client 169.254.169.254 (inverted: 5601:5601).
		{"2001:0:808:808::5601:5601", "a Teredo address for 169.254.169.254, the cloud metadata address"},
	}
	public := []string{
		"64:ff9b::808:808",             // NAT64 for 8.8.8.8
		"2002:808:808::1",              // 6to4 for 8.8.8.8
		"2001:0:808:808:0:0:f7f7:f7f7", // Teredo: server and client 8.8.8.8
	}
	for _, mode := range []Mode{Strict, Permissive} {
		p := mustNew(t, mode, nil, nil)
		for _, tt := range tests {
			addr := netip.MustParseAddr(tt.addr)
			got := p.CheckAddr("x.example", addr, 443)
			want := fmt.Sprintf(`"x.example" resolves to %s, %s`, addr.Unmap(), tt.class)
			if got.Allowed || got.Rule != want {
				t.Errorf("%s CheckAddr(%s):\ngot  %+v\nwant rule %s", mode, tt.addr, got, want)
			}
			if got := p.CheckHost("["+tt.addr+"]", 443); got.Allowed {
				t.Errorf("%s CheckHost(%s) allowed: %+v", mode, tt.addr, got)
			}
		}
		for _, a := range public {
			if got := p.CheckAddr("x.example", netip.MustParseAddr(a), 443); !got.Allowed {
				t.Errorf("%s CheckAddr(%s) blocked: %+v", mode, a, got)
			}
		}
	}
}

// TestHostsOwnAddresses checks the host's own addresses (Local, and
// loopback): blocked in every mode, public or not, and allowed only by a
// network.hosts mapping or an IP rule naming exactly that address, never
// by a CIDR rule for a network the host is on.
func TestHostsOwnAddresses(t *testing.T) {
	t.Parallel()
	own := map[netip.Addr]bool{
		netip.MustParseAddr("172.17.0.1"): true, netip.MustParseAddr("8.8.4.4"): true,
		netip.MustParseAddr("2606:4700::99"): true,
	}
	local := func(a netip.Addr) bool { return own[a] }
	const cls = "an address of the host moat runs on"
	allow := []string{"172.16.0.0/12", "8.8.0.0/16", "2606:4700::/32", "10.0.0.0/8", "127.0.0.0/8", "172.17.0.1:8080"}
	hosts := map[string]string{"bridge.test": "172.17.0.1", "lo.test": "127.0.0.1"}
	tests := []struct {
		host, addr string
		port       int
		allowed    bool
		rule       string
	}{
		{"x.example", "172.17.0.1", 443, false, `"x.example" resolves to 172.17.0.1, ` + cls},
		{"x.example", "8.8.4.4", 443, false, `"x.example" resolves to 8.8.4.4, ` + cls},
		{"x.example", "2606:4700::99", 443, false, `"x.example" resolves to 2606:4700::99, ` + cls},
		{"x.example", "64:ff9b::808:404", 443, false, `"x.example" resolves to 64:ff9b::808:404, a NAT64 address for 8.8.4.4, ` + cls},
		{"x.example", "127.0.0.1", 443, false, `"x.example" resolves to 127.0.0.1, a loopback address`},
		{"x.example", "172.17.0.1", 8080, true, `network.allow "172.17.0.1:8080"`},
		{"bridge.test", "172.17.0.1", 443, true, `network.hosts "bridge.test"`},
		{"lo.test", "127.0.0.1", 443, true, `network.hosts "lo.test"`},
		{"x.example", "172.17.0.2", 443, true, `network.allow "172.16.0.0/12"`},
		{"x.example", "8.8.8.8", 443, true, "public address 8.8.8.8"},
		{"x.example", "10.1.1.1", 443, true, `network.allow "10.0.0.0/8"`},
	}
	for _, mode := range []Mode{Strict, Permissive} {
		p := mustNew(t, mode, allow, hosts)
		p.Local = local
		for _, tt := range tests {
			got := p.CheckAddr(tt.host, netip.MustParseAddr(tt.addr), tt.port)
			if got.Allowed != tt.allowed || got.Rule != tt.rule {
				t.Errorf("%s CheckAddr(%q, %s, %d) = %+v, want allowed=%v rule %s", mode, tt.host, tt.addr, tt.port, got, tt.allowed, tt.rule)
			}
		}
		for _, lit := range []string{"172.17.0.1", "8.8.4.4", "[2606:4700::99]", "127.0.0.1"} {
			if got := p.CheckHost(lit, 443); got.Allowed {
				t.Errorf("%s CheckHost(%s) allowed: %+v", mode, lit, got)
			}
		}
		if got := p.CheckHost("172.17.0.1", 8080); !got.Allowed {
			t.Errorf("%s CheckHost(172.17.0.1:8080) blocked despite the exact rule: %+v", mode, got)
		}
		// An address the host gained after Local looked: the proxy saw its
		// connection's two ends on the same address.
		if got := p.CheckOwnAddr("x.example", netip.MustParseAddr("8.8.8.8"), 443); got.Allowed || got.Rule != `"x.example" resolves to 8.8.8.8, `+cls {
			t.Errorf("%s CheckOwnAddr(8.8.8.8) = %+v", mode, got)
		}
		if got := p.CheckOwnAddr("bridge.test", netip.MustParseAddr("172.17.0.1"), 443); !got.Allowed {
			t.Errorf("%s CheckOwnAddr(bridge.test) = %+v, want the mapping to allow it", mode, got)
		}
	}
}

func TestCheckMethod(t *testing.T) {
	t.Parallel()
	for _, m := range []string{"TRACE", "TRACK", "trace", "Track"} {
		want := fmt.Sprintf("method %q is refused: the server echoes the request back, credentials included", m)
		if d := CheckMethod(m); d.Allowed || d.Rule != want {
			t.Errorf("CheckMethod(%q) = %+v, want refused: %s", m, d, want)
		}
	}
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "PROPFIND", "TRACES"} {
		if d := CheckMethod(m); !d.Allowed {
			t.Errorf("CheckMethod(%q) refused: %+v", m, d)
		}
	}
}
