package policy

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseHostMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		wantName    string
		wantAddr    netip.Addr
	}{
		{"api.test", "172.17.0.1", "api.test", netip.MustParseAddr("172.17.0.1")},
		{"API.Test.", "10.0.0.5", "api.test", netip.MustParseAddr("10.0.0.5")},
		{"db", "::1", "db", netip.MustParseAddr("::1")},
		{"db", "::ffff:10.0.0.1", "db", netip.MustParseAddr("10.0.0.1")},
	}
	for _, tt := range tests {
		name, addr, err := ParseHostMapping(tt.name, tt.value)
		if err != nil {
			t.Errorf("ParseHostMapping(%q, %q): %v", tt.name, tt.value, err)
			continue
		}
		if name != tt.wantName || addr != tt.wantAddr {
			t.Errorf("ParseHostMapping(%q, %q) = %q, %v, want %q, %v", tt.name, tt.value, name, addr, tt.wantName, tt.wantAddr)
		}
	}
}

func TestParseHostMappingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		want        string
		rule        bool // the error is a *RuleError
	}{
		{"", "10.0.0.1", `invalid rule "" in network.hosts: rule is empty; name a host such as "api.example.com"`, true},
		{"https://a.test", "10.0.0.1", `invalid rule "https://a.test" in network.hosts: rules name hosts, not URLs; use "a.test"`, true},
		{"*.a.test", "10.0.0.1", `invalid network.hosts entry "*.a.test": the key must be a plain host name, without wildcard, port or IP`, false},
		{"a.test:80", "10.0.0.1", `invalid network.hosts entry "a.test:80": the key must be a plain host name, without wildcard, port or IP`, false},
		{"10.0.0.2", "10.0.0.1", `invalid network.hosts entry "10.0.0.2": the key must be a plain host name, without wildcard, port or IP`, false},
		{"a.test", "nope", `invalid network.hosts entry "a.test": "nope" is not an IP address`, false},
		{"a.test", "10.0.0.0/8", `invalid network.hosts entry "a.test": "10.0.0.0/8" is not an IP address`, false},
		{"a.test", "fe80::1%eth0", `invalid network.hosts entry "a.test": "fe80::1%eth0" is not an IP address`, false},
	}
	for _, tt := range tests {
		_, _, err := ParseHostMapping(tt.name, tt.value)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseHostMapping(%q, %q):\ngot  %v\nwant %s", tt.name, tt.value, err, tt.want)
			continue
		}
		var re *RuleError
		if errors.As(err, &re) != tt.rule {
			t.Errorf("ParseHostMapping(%q, %q): got %T, want a *RuleError: %v", tt.name, tt.value, err, tt.rule)
		}
	}
}

// TestParseHostMappingMatchesNew checks that the function config uses to
// check agent.yaml accepts exactly what New accepts.
func TestParseHostMappingMatchesNew(t *testing.T) {
	t.Parallel()
	for _, kv := range [][2]string{{"api.test", "172.17.0.1"}, {"*.a", "10.0.0.1"}, {"b", "nope"}, {"c:80", "::1"}} {
		_, _, err := ParseHostMapping(kv[0], kv[1])
		_, newErr := New(Strict, nil, map[string]string{kv[0]: kv[1]})
		if (err == nil) != (newErr == nil) {
			t.Errorf("%q: %q: ParseHostMapping says %v, New says %v", kv[0], kv[1], err, newErr)
		}
	}
}
