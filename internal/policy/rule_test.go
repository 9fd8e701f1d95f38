package policy

import (
	"net/netip"
	"testing"
)

func prefix(s string) *netip.Prefix {
	p := netip.MustParsePrefix(s)
	return &p
}

func sameRule(a, b Rule) bool {
	if (a.Prefix == nil) != (b.Prefix == nil) || a.Prefix != nil && *a.Prefix != *b.Prefix {
		return false
	}
	a.Prefix, b.Prefix = nil, nil
	return a == b
}

func TestParseRule(t *testing.T) {
	t.Parallel()
	const src = SourceAllow
	tests := []struct {
		in   string
		want Rule
	}{
		{"api.github.com", Rule{Pattern: "api.github.com", Host: "api.github.com"}},
		{"API.GitHub.com.", Rule{Pattern: "api.github.com", Host: "api.github.com"}},
		{"*.example.com", Rule{Pattern: "*.example.com", Host: "example.com", Wildcard: true}},
		{"*.Example.com:443", Rule{Pattern: "*.example.com:443", Host: "example.com", Wildcard: true, Port: 443}},
		{"example.com:8443", Rule{Pattern: "example.com:8443", Host: "example.com", Port: 8443}},
		{"localhost", Rule{Pattern: "localhost", Host: "localhost"}},
		{"_srv.example.com", Rule{Pattern: "_srv.example.com", Host: "_srv.example.com"}},
		{"xn--bcher-kva.example", Rule{Pattern: "xn--bcher-kva.example", Host: "xn--bcher-kva.example"}},
		{"10.0.0.5", Rule{Pattern: "10.0.0.5", Prefix: prefix("10.0.0.5/32")}},
		{"10.0.0.5:5432", Rule{Pattern: "10.0.0.5:5432", Port: 5432, Prefix: prefix("10.0.0.5/32")}},
		{"10.0.0.0/8", Rule{Pattern: "10.0.0.0/8", Prefix: prefix("10.0.0.0/8")}},
		{"::ffff:10.0.0.0/104", Rule{Pattern: "10.0.0.0/8", Prefix: prefix("10.0.0.0/8")}},
		{"::ffff:10.0.0.5", Rule{Pattern: "10.0.0.5", Prefix: prefix("10.0.0.5/32")}},
		{"::1", Rule{Pattern: "::1", Prefix: prefix("::1/128")}},
		{"[::1]", Rule{Pattern: "::1", Prefix: prefix("::1/128")}},
		{"[::1]:443", Rule{Pattern: "[::1]:443", Port: 443, Prefix: prefix("::1/128")}},
		{"10.0.0.0/8:5432", Rule{Pattern: "10.0.0.0/8:5432", Port: 5432, Prefix: prefix("10.0.0.0/8")}},
		{"fd00::/8:443", Rule{Pattern: "fd00::/8:443", Port: 443, Prefix: prefix("fd00::/8")}},
		{"fd00::/8", Rule{Pattern: "fd00::/8", Prefix: prefix("fd00::/8")}},
		{"example.com:080", Rule{Pattern: "example.com:80", Host: "example.com", Port: 80}},
	}
	for _, tt := range tests {
		got, err := ParseRule(tt.in, src)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.in, err)
			continue
		}
		tt.want.Source = src
		if !sameRule(got, tt.want) {
			t.Errorf("ParseRule(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", `invalid rule "" in network.allow: rule is empty; name a host such as "api.example.com"`},
		{"https://x", `invalid rule "https://x" in network.allow: rules name hosts, not URLs; use "x"`},
		{"https://user@api.x.com:8443/v1?q", `invalid rule "https://user@api.x.com:8443/v1?q" in network.allow: rules name hosts, not URLs; use "api.x.com:8443"`},
		{"example.com/path", `invalid rule "example.com/path" in network.allow: rules name hosts, not paths; use "example.com"`},
		{"10.0.0.0/33", `invalid rule "10.0.0.0/33" in network.allow: invalid CIDR prefix; write it as "10.0.0.0/8" or "fd00::/8"`},
		{"10.0.0.0/8:0", `invalid rule "10.0.0.0/8:0" in network.allow: port must be a number from 1 to 65535`},
		{"10.0.0.5/8", `invalid rule "10.0.0.5/8" in network.allow: address has bits set beyond the prefix length; use "10.0.0.0/8"`},
		{"a b.com", `invalid rule "a b.com" in network.allow: contains whitespace; remove it, or write one rule per list entry`},
		{" example.com", `invalid rule " example.com" in network.allow: contains whitespace; remove it, or write one rule per list entry`},
		{"a\x00.com", `invalid rule "a\x00.com" in network.allow: contains a control character`},
		{"bücher.example", `invalid rule "bücher.example" in network.allow: contains non-ASCII characters; write the name in its punycode form (xn--...)`},
		{"*", `invalid rule "*" in network.allow: a lone "*" would match every host; set network.policy to permissive to allow every host`},
		{"*.*.x", `invalid rule "*.*.x" in network.allow: "*" is only allowed as the whole first label, as in "*.example.com"`},
		{"a*.x.com", `invalid rule "a*.x.com" in network.allow: "*" is only allowed as the whole first label, as in "*.example.com"`},
		{"*.", `invalid rule "*." in network.allow: a lone "*" would match every host; set network.policy to permissive to allow every host`},
		{"*..com", `invalid rule "*..com" in network.allow: empty label`},
		{"a..com", `invalid rule "a..com" in network.allow: empty label`},
		{".com", `invalid rule ".com" in network.allow: empty label`},
		{"x.com..", `invalid rule "x.com.." in network.allow: empty label`},
		{"-a.com", `invalid rule "-a.com" in network.allow: labels cannot start or end with "-"`},
		{"a_b?.com", `invalid rule "a_b?.com" in network.allow: invalid character '?'`},
		{"example.com:", `invalid rule "example.com:" in network.allow: port is empty`},
		{"example.com:0", `invalid rule "example.com:0" in network.allow: port must be a number from 1 to 65535`},
		{"example.com:65536", `invalid rule "example.com:65536" in network.allow: port must be a number from 1 to 65535`},
		{"example.com:+80", `invalid rule "example.com:+80" in network.allow: port must be a number from 1 to 65535`},
		{"example.com:http", `invalid rule "example.com:http" in network.allow: port must be a number from 1 to 65535`},
		{"::1:443x", `invalid rule "::1:443x" in network.allow: an IPv6 address with a port needs brackets; write it as "[::1]:443"`},
		{"[::1", `invalid rule "[::1" in network.allow: missing "]"`},
		{"[::1]443", `invalid rule "[::1]443" in network.allow: unexpected text after "]"`},
		{"[example.com]:443", `invalid rule "[example.com]:443" in network.allow: brackets are only for IPv6 addresses`},
		{"fe80::1%eth0", `invalid rule "fe80::1%eth0" in network.allow: IPv6 zones are not supported; use "fe80::1"`},
		{"999.1.1.1", `invalid rule "999.1.1.1" in network.allow: neither a host name nor an IP address (the last label is numeric)`},
		{"a.com:1:2", `invalid rule "a.com:1:2" in network.allow: an IPv6 address with a port needs brackets; write it as "[::1]:443"`},
	}
	for _, tt := range tests {
		_, err := ParseRule(tt.in, SourceAllow)
		if err == nil {
			t.Errorf("ParseRule(%q) succeeded, want error %s", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseRule(%q) error:\ngot  %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestParseRuleLongNames(t *testing.T) {
	t.Parallel()
	label63 := "a123456789b123456789c123456789d123456789e123456789f123456789abc"
	if _, err := ParseRule(label63+".com", "x"); err != nil {
		t.Fatalf("63-char label: %v", err)
	}
	_, err := ParseRule(label63+"d.com", "x")
	want := `invalid rule "` + label63 + `d.com" in x: label is longer than 63 characters`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	long := label63 + "." + label63 + "." + label63 + "." + label63 + ".com"
	_, err = ParseRule(long, "")
	want = `invalid rule "` + long + `": name is longer than 253 characters`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
