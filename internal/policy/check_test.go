package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func mustNew(t testing.TB, mode Mode, allow []string, hosts map[string]string) *Policy {
	t.Helper()
	p, err := New(mode, allow, hosts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestCheckHost(t *testing.T) {
	t.Parallel()
	allow := []string{"api.github.com", "*.example.com", "pinned.io:8443", "10.0.0.5", "192.168.0.0/16:5432"}
	hosts := map[string]string{"DB.internal": "10.1.2.3"}
	tests := []struct {
		mode Mode
		host string
		port int
		want Decision
	}{
		{Strict, "api.github.com", 443, Decision{true, `network.allow "api.github.com"`, ""}},
		{Strict, "API.GitHub.com.", 80, Decision{true, `network.allow "api.github.com"`, ""}},
		{"", "api.github.com", 443, Decision{true, `network.allow "api.github.com"`, ""}},
		{Strict, "a.example.com", 443, Decision{true, `network.allow "*.example.com"`, ""}},
		{Strict, "a.b.example.com", 443, Decision{true, `network.allow "*.example.com"`, ""}},
		{Strict, "example.com", 443, Decision{false, `"example.com" is not in network.allow (network.policy "strict")`, `add "example.com" to network.allow in agent.yaml`}},
		{Strict, "badexample.com", 443, Decision{false, `"badexample.com" is not in network.allow (network.policy "strict")`, `add "badexample.com" to network.allow in agent.yaml`}},
		{Strict, "pinned.io", 8443, Decision{true, `network.allow "pinned.io:8443"`, ""}},
		{Strict, "pinned.io", 443, Decision{false, `"pinned.io" is allowed only on port 8443 (network.allow "pinned.io:8443")`, `add "pinned.io:443" to network.allow in agent.yaml`}},
		{Strict, "github.com", 443, Decision{true, `grant github "github.com:443"`, ""}},
		{Strict, "x.githubusercontent.com", 443, Decision{true, `grant github "*.githubusercontent.com:443"`, ""}},
		{Strict, "github.com", 22, Decision{false, `"github.com" is allowed only on port 443 (grant github "github.com:443")`, `add "github.com:22" to network.allow in agent.yaml`}},
		{Strict, "github.com", 80, Decision{false, `"github.com" is allowed only on port 443 (grant github "github.com:443")`, `add "github.com:80" to network.allow in agent.yaml`}},
		{Strict, "api.test", 8443, Decision{true, `grant testapi "api.test:8443"`, ""}},
		{Strict, "api.test", 443, Decision{false, `"api.test" is allowed only on port 8443 (grant testapi "api.test:8443")`, `add "api.test:443" to network.allow in agent.yaml`}},
		{Strict, "db.internal", 5432, Decision{true, `network.hosts "db.internal"`, ""}},
		{Strict, "10.0.0.5", 22, Decision{true, `network.allow "10.0.0.5"`, ""}},
		{Strict, "[::ffff:10.0.0.5]", 22, Decision{true, `network.allow "10.0.0.5"`, ""}},
		{Strict, "192.168.1.1", 5432, Decision{true, `network.allow "192.168.0.0/16:5432"`, ""}},
		{Strict, "192.168.1.1", 22, Decision{false, `192.168.1.1 is a private address (RFC 1918)`, ""}},
		{Strict, "8.8.8.8", 53, Decision{false, `"8.8.8.8" is not in network.allow (network.policy "strict")`, `add "8.8.8.8" to network.allow in agent.yaml`}},
		{Strict, "", 443, Decision{false, "request has no host", "send the request to a host name or IP address"}},
		{Strict, "evil.com\r\nx", 443, Decision{false, `"evil.com\r\nx" is not in network.allow (network.policy "strict")`, `add "evil.com\r\nx" to network.allow in agent.yaml`}},
		{Permissive, "anything.org", 443, Decision{true, "network.policy permissive", ""}},
		{Permissive, "api.github.com", 443, Decision{true, `network.allow "api.github.com"`, ""}},
		{Permissive, "8.8.8.8", 53, Decision{true, "network.policy permissive", ""}},
		{Permissive, "127.0.0.1", 80, Decision{false, "127.0.0.1 is a loopback address", ""}},
		{Permissive, "[::1]", 80, Decision{false, "::1 is a loopback address", ""}},
		{Permissive, "169.254.169.254", 80, Decision{false, "169.254.169.254 is the cloud metadata address", ""}},
		{None, "api.github.com", 443, Decision{false, `network.policy "none": the run has no network access`, `set network.policy to "strict" in agent.yaml and add "api.github.com" to network.allow`}},
		{None, "10.0.0.5", 22, Decision{false, `network.policy "none": the run has no network access`, `set network.policy to "strict" in agent.yaml`}},
		{None, "169.254.169.254", 80, Decision{false, `network.policy "none": the run has no network access`, `set network.policy to "strict" in agent.yaml`}},
		{None, "api.github.com", 443, Decision{false, `network.policy "none": the run has no network access`, `set network.policy to "strict" in agent.yaml and add "api.github.com" to network.allow`}},
	}
	for _, tt := range tests {
		p := mustNew(t, tt.mode, allow, hosts)
		if err := p.AddGrantHosts("github", []string{"github.com", "*.githubusercontent.com"}); err != nil {
			t.Fatal(err)
		}
		if err := p.AddGrantHosts("testapi", []string{"api.test:8443"}); err != nil {
			t.Fatal(err)
		}
		if got := p.CheckHost(tt.host, tt.port); got != tt.want {
			t.Errorf("%s CheckHost(%q, %d):\ngot  %+v\nwant %+v", tt.mode, tt.host, tt.port, got, tt.want)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	allow := []string{"10.9.0.0/16", "[fd00::5]:443", "169.254.169.254:80"}
	hosts := map[string]string{"db.internal": "10.1.2.3", "v6.internal": "::ffff:172.16.0.9"}
	blocked := []struct{ addr, class string }{
		{"127.0.0.1", "a loopback address"},
		{"127.8.9.10", "a loopback address"},
		{"::1", "a loopback address"},
		{"::ffff:127.0.0.1", "a loopback address"},
		{"10.0.0.1", "a private address (RFC 1918)"},
		{"172.16.0.1", "a private address (RFC 1918)"},
		{"172.31.255.255", "a private address (RFC 1918)"},
		{"192.168.1.1", "a private address (RFC 1918)"},
		{"::ffff:192.168.1.1", "a private address (RFC 1918)"},
		{"100.64.0.1", "a carrier-grade NAT address (RFC 6598)"},
		{"100.127.255.254", "a carrier-grade NAT address (RFC 6598)"},
		{"169.254.169.254", "the cloud metadata address"},
		{"::ffff:169.254.169.254", "the cloud metadata address"},
		{"64:ff9b::a9fe:a9fe", "a NAT64 address for 169.254.169.254, the cloud metadata address"},
		{"169.254.1.1", "a link-local address"},
		{"fe80::1", "a link-local address"},
		{"fe80::1%eth0", "a link-local address"},
		{"fc00::1", "a unique local address (fc00::/7)"},
		{"fd12:3456::1", "a unique local address (fc00::/7)"},
		{"0.0.0.0", `an unspecified or "this network" address`},
		{"::ffff:0.0.0.0", `an unspecified or "this network" address`},
		{"::", "an unspecified address"},
		{"::7f00:1", "an IPv4-compatible address (deprecated)"},
		{"fec0::1", "a site-local address (deprecated)"},
		{"224.0.0.1", "a multicast address"},
		{"ff02::1", "a multicast address"},
		{"255.255.255.255", "a reserved or broadcast address"},
		{"192.52.193.7", "an address reserved for moat (another run's network or the host)"},
	}
	for _, mode := range []Mode{Strict, Permissive} {
		p := mustNew(t, mode, allow, hosts)
		p.Private = []netip.Prefix{netip.MustParsePrefix("192.52.193.0/24")}
		for _, b := range blocked {
			addr := netip.MustParseAddr(b.addr)
			got := p.CheckAddr("evil.example", addr, 443)
			plain := addr.WithZone("").Unmap()
			want := Decision{
				Rule: fmt.Sprintf(`"evil.example" resolves to %s, %s`, plain, b.class),
			}
			if got != want {
				t.Errorf("%s CheckAddr(%s):\ngot  %+v\nwant %+v", mode, b.addr, got, want)
			}
		}
	}

	p := mustNew(t, Strict, allow, hosts)
	tests := []struct {
		host, addr string
		port       int
		want       Decision
	}{
		{"api.github.com", "140.82.112.6", 443, Decision{true, "public address 140.82.112.6", ""}},
		{"api.github.com", "2606:4700::1", 443, Decision{true, "public address 2606:4700::1", ""}},
		{"172.15.255.255", "172.15.255.255", 443, Decision{true, "public address 172.15.255.255", ""}},
		{"100.128.0.1", "100.128.0.1", 443, Decision{true, "public address 100.128.0.1", ""}},
		{"DB.Internal.", "10.1.2.3", 5432, Decision{true, `network.hosts "db.internal"`, ""}},
		{"db.internal", "::ffff:10.1.2.3", 5432, Decision{true, `network.hosts "db.internal"`, ""}},
		{"v6.internal", "172.16.0.9", 5432, Decision{true, `network.hosts "v6.internal"`, ""}},
		{"db.internal", "10.1.2.4", 5432, Decision{false, `"db.internal" resolves to 10.1.2.4, a private address (RFC 1918)`, ""}},
		{"svc.corp", "10.9.8.7", 80, Decision{true, `network.allow "10.9.0.0/16"`, ""}},
		{"svc.corp", "::ffff:10.9.8.7", 80, Decision{true, `network.allow "10.9.0.0/16"`, ""}},
		{"v6.corp", "fd00::5", 443, Decision{true, `network.allow "[fd00::5]:443"`, ""}},
		{"v6.corp", "fd00::5", 80, Decision{false, `"v6.corp" resolves to fd00::5, a unique local address (fc00::/7)`, ""}},
		{"169.254.169.254", "169.254.169.254", 80, Decision{true, `network.allow "169.254.169.254:80"`, ""}},
		{"169.254.169.254", "169.254.169.254", 443, Decision{false, "169.254.169.254 is the cloud metadata address", ""}},
		{"x", "", 443, Decision{false, `no valid address to dial for "x"`, ""}},
	}
	for _, tt := range tests {
		var addr netip.Addr
		if tt.addr != "" {
			addr = netip.MustParseAddr(tt.addr)
		}
		if got := p.CheckAddr(tt.host, addr, tt.port); got != tt.want {
			t.Errorf("CheckAddr(%q, %s, %d):\ngot  %+v\nwant %+v", tt.host, tt.addr, tt.port, got, tt.want)
		}
	}
	none := mustNew(t, None, allow, hosts)
	if got := none.CheckAddr("db.internal", netip.MustParseAddr("10.1.2.3"), 5432); got.Allowed {
		t.Errorf("none: CheckAddr allowed %+v", got)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode  Mode
		allow []string
		hosts map[string]string
		want  string
	}{
		{"open", nil, nil, `invalid network.policy "open": must be "strict", "permissive" or "none"`},
		{Strict, []string{"ok.com", "https://a.com", "*"}, nil,
			"invalid rule \"https://a.com\" in network.allow: rules name hosts, not URLs; use \"a.com\"\n" +
				"invalid rule \"*\" in network.allow: a lone \"*\" would match every host; set network.policy to permissive to allow every host"},
		{Strict, nil, map[string]string{"b": "nope", "*.a": "10.0.0.1", "c:80": "10.0.0.1"},
			"invalid network.hosts entry \"*.a\": the key must be a plain host name, without wildcard, port or IP\n" +
				"invalid network.hosts entry \"b\": \"nope\" is not an IP address\n" +
				"invalid network.hosts entry \"c:80\": the key must be a plain host name, without wildcard, port or IP"},
	}
	for _, tt := range tests {
		_, err := New(tt.mode, tt.allow, tt.hosts)
		if err == nil || err.Error() != tt.want {
			t.Errorf("New(%q, %q, %v):\ngot  %v\nwant %s", tt.mode, tt.allow, tt.hosts, err, tt.want)
		}
	}
}

func TestAddGrantHosts(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Strict, nil, nil)
	err := p.AddGrantHosts("github", []string{"github.com", "https://api.github.com"})
	want := `invalid rule "https://api.github.com" in grant github: rules name hosts, not URLs; use "api.github.com"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if len(p.Allow) != 0 {
		t.Fatalf("a failed AddGrantHosts added %d rules", len(p.Allow))
	}
	if err := p.AddGrantHosts("", []string{"x.com"}); err == nil || err.Error() != "adding grant hosts: grant name is empty" {
		t.Fatalf("empty grant: got %v", err)
	}
}

// TestAddSSHHosts: an ssh grant's host opens its SSH port (22, or its
// own) and nothing else; HTTPS to it stays refused.
func TestAddSSHHosts(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Strict, nil, nil)
	if err := p.AddSSHHosts("deploy", []string{"github.com", "git.example:2222"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host string
		port int
		want bool
	}{
		{"github.com", 22, true}, {"github.com", 443, false}, {"github.com", 2222, false},
		{"git.example", 2222, true}, {"git.example", 22, false}, {"git.example", 443, false},
	} {
		d := p.CheckHost(c.host, c.port)
		if d.Allowed != c.want {
			t.Errorf("%s:%d: allowed %v, want %v (%s)", c.host, c.port, d.Allowed, c.want, d.Rule)
		}
		if d.Allowed && !strings.Contains(d.Rule, "grant deploy") {
			t.Errorf("%s:%d: allowed by %q, want the rule of grant deploy", c.host, c.port, d.Rule)
		}
	}
	if err := p.AddSSHHosts("", []string{"x.com"}); err == nil {
		t.Error("an ssh grant without a name added hosts")
	}
}

func BenchmarkCheckHost(b *testing.B) {
	allow := make([]string, 0, 100)
	for i := range 50 {
		allow = append(allow, fmt.Sprintf("host%d.example%d.com", i, i), fmt.Sprintf("*.svc%d.example.org:443", i))
	}
	p := mustNew(b, Strict, allow, nil)
	for _, host := range []string{"host0.example0.com", "a.svc49.example.org", "blocked.example.net"} {
		b.Run(host, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.CheckHost(host, 443)
			}
		})
	}
}

// TestHostsMappingKeepsPortRules: a network.hosts name says where the name
// goes; a network.allow rule naming its port says on which ports. The
// mapping alone opens the name on every port, as before; with a port rule
// only that port, in every mode. The denial suggests nothing (the name
// maps to a private address).
func TestHostsMappingKeepsPortRules(t *testing.T) {
	t.Parallel()
	hosts := map[string]string{"db.internal": "10.1.2.3", "cache.internal": "10.1.2.4"}
	for _, mode := range []Mode{Strict, Permissive} {
		p := mustNew(t, mode, []string{"db.internal:5432"}, hosts)
		tests := []struct {
			host string
			port int
			want Decision
		}{
			{"db.internal", 5432, Decision{true, `network.allow "db.internal:5432"`, ""}},
			{"db.internal", 22, Decision{false, `"db.internal" is allowed only on port 5432 (network.allow "db.internal:5432")`, ""}},
			{"DB.internal.", 6379, Decision{false, `"db.internal" is allowed only on port 5432 (network.allow "db.internal:5432")`, ""}},
			{"cache.internal", 6379, Decision{true, `network.hosts "cache.internal"`, ""}},
		}
		for _, tt := range tests {
			if got := p.CheckHost(tt.host, tt.port); got != tt.want {
				t.Errorf("%s CheckHost(%q, %d):\ngot  %+v\nwant %+v", mode, tt.host, tt.port, got, tt.want)
			}
		}
	}
}
