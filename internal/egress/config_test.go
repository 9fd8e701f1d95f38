package egress

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/policy"
)

// TestPolicyFor checks the wire form of a network section written in
// non-canonical forms, and that the sidecar's one decode of it gives the
// rules and mappings config parsed.
func TestPolicyFor(t *testing.T) {
	t.Parallel()
	c, err := config.Parse("agent.yaml", []byte("network:\n"+
		"  allow: [API.Example.com., '*.B.example.com:8443', '::ffff:10.1.2.3', '[::1]:443',\n"+
		"    {host: API.GitHub.com, methods: [GET, HEAD], paths: [/repos/org/repo/**, /user]}, {host: r.test, read-only: true}]\n"+
		"  hosts: {Api.Test.: '::ffff:172.17.0.1', b.test: 'fd00::1'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wire := PolicyFor(c.Network)
	want := Policy{
		Mode: "strict",
		Allow: []Allow{{Rule: "api.example.com"}, {Rule: "*.b.example.com:8443"}, {Rule: "10.1.2.3"}, {Rule: "[::1]:443"},
			{Rule: "api.github.com", Methods: []string{"GET", "HEAD"}, Paths: []string{"/repos/org/repo/**", "/user"}, Line: 3},
			{Rule: "r.test", Methods: []string{"GET", "HEAD"}, Line: 3}},
		Hosts: map[string]string{"api.test": "172.17.0.1", "b.test": "fd00::1"},
	}
	if !reflect.DeepEqual(wire, want) {
		t.Fatalf("PolicyFor: got %+v, want %+v", wire, want)
	}
	pol, err := wire.decode()
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if pol.Mode != policy.Strict || len(pol.Allow) != len(c.Network.Allow) {
		t.Fatalf("decode: mode %q, %d rules; want strict, %d", pol.Mode, len(pol.Allow), len(c.Network.Allow))
	}
	for i, r := range c.Network.Allow {
		if !reflect.DeepEqual(pol.Allow[i], r.Rule) {
			t.Errorf("rule %d: decoded %+v, config parsed %+v", i, pol.Allow[i], r.Rule)
		}
	}
	wantHosts := map[string]netip.Addr{"api.test": netip.MustParseAddr("172.17.0.1"), "b.test": netip.MustParseAddr("fd00::1")}
	if !reflect.DeepEqual(pol.Hosts, wantHosts) {
		t.Errorf("hosts: got %v, want %v", pol.Hosts, wantHosts)
	}
}

func TestPolicyForModes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ yaml, want string }{
		{"name: x\n", "strict"},
		{"network: {policy: permissive}\n", "permissive"},
		{"network: {policy: none}\n", "none"},
	} {
		c, err := config.Parse("agent.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := PolicyFor(c.Network); !reflect.DeepEqual(got, Policy{Mode: tt.want}) {
			t.Errorf("%q: got %+v, want mode %q and nothing else", tt.yaml, got, tt.want)
		}
	}
}

// A sidecar refuses a wire form whose methods or paths it cannot parse,
// rather than enforcing the host without them.
func TestPolicyDecodeRefusesBadRequestRules(t *testing.T) {
	t.Parallel()
	for _, a := range []Allow{
		{Rule: "a.test", Methods: []string{"get"}},
		{Rule: "a.test", Paths: []string{"relative"}},
		{Rule: "a.test", Methods: []string{}},
	} {
		if _, err := (Policy{Mode: "strict", Allow: []Allow{a}}).decode(); err == nil {
			t.Errorf("decode(%+v): no error", a)
		}
	}
}

// TestPolicyForTunnelOnly: a tunnel-only entry reaches the sidecar, which
// tunnels that host blind and opens the others.
func TestPolicyForTunnelOnly(t *testing.T) {
	cfg, err := config.Parse("agent.yaml", []byte("network:\n  allow:\n    - {host: pinned.test, tunnel-only: true}\n    - open.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := PolicyFor(cfg.Network)
	if len(p.Tunnel) != 1 || p.Tunnel[0] != "pinned.test" {
		t.Fatalf("wire form %+v", p)
	}
	pol, err := p.decode()
	if err != nil {
		t.Fatal(err)
	}
	if !pol.TunnelOnly("pinned.test", 443) || pol.TunnelOnly("open.test", 443) {
		t.Error("tunnel-only does not reach the proxy's policy as written")
	}
	if d := pol.CheckHost("pinned.test", 443); !d.Allowed {
		t.Errorf("a tunnel-only entry does not allow its host: %+v", d)
	}
}
