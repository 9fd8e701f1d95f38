package suggest

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/trace"
)

func tunnel(host string) trace.Request {
	return trace.Request{Method: "CONNECT", Scheme: "tunnel", Host: host, Decision: "allow"}
}

func get(scheme, host string) trace.Request {
	return trace.Request{Method: "GET", Scheme: scheme, Host: host, Path: "/", Decision: "allow"}
}

// denied is a request refused with policy's own decision for it, as the
// proxy records it.
func denied(host string, d policy.Decision) trace.Request {
	return trace.Request{Method: "CONNECT", Host: host, Status: 403, Decision: "deny: " + d.Rule, Denied: true}
}

func network(t *testing.T, yaml string) config.Network {
	t.Helper()
	c, err := config.Parse("agent.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c.Network
}

func patterns(rules []Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Pattern)
	}
	return out
}

func riskyPatterns(rules []Risky) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Pattern)
	}
	return out
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	strict := &policy.Policy{Mode: policy.Strict}
	tests := []struct {
		name      string
		yaml      string
		grants    map[string][]string
		reqs      []trace.Request
		strict    bool
		allow     []string
		risky     []string
		skippedOK bool
	}{
		{name: "permissive run: every host, sorted, no duplicates", yaml: "network: {policy: permissive}\n",
			reqs:   []trace.Request{tunnel("registry.npmjs.org"), get("https", "api.example.com"), tunnel("registry.npmjs.org"), get("http", "deb.debian.org")},
			strict: true, allow: []string{"api.example.com", "deb.debian.org", "registry.npmjs.org"}},
		{name: "denials of a strict run", yaml: "",
			reqs:  []trace.Request{denied("other.example.org", strict.CheckHost("other.example.org", 443))},
			allow: []string{"other.example.org"}},
		{name: "other ports get port rules, the standard one a bare rule", yaml: "",
			reqs:  []trace.Request{tunnel("a.example.com:8443"), tunnel("a.example.com:9443"), get("http", "b.example.com:8080"), tunnel("c.example.com:8443"), tunnel("c.example.com")},
			allow: []string{"a.example.com:8443", "a.example.com:9443", "b.example.com:8080", "c.example.com"}},
		{name: "already allowed: rules, wildcards, hosts and grants", grants: map[string][]string{"github": {"api.github.com"}},
			yaml: "network:\n  allow: [a.example.com, \"*.cdn.example.com\", \"p.example.com:8443\"]\n  hosts: {api.test: 127.0.0.1}\n",
			reqs: []trace.Request{tunnel("a.example.com:22"), tunnel("x.cdn.example.com"), tunnel("p.example.com:8443"), tunnel("api.test:9999"),
				get("https", "api.github.com"), tunnel("p.example.com"), tunnel("api.github.com:8443")},
			allow: []string{"api.github.com:8443", "p.example.com"}},
		{name: "IP addresses are risky, port and all", yaml: "",
			reqs:  []trace.Request{tunnel("10.0.0.5:5432"), tunnel("8.8.8.8"), tunnel("[2001:4860::8888]:8443"), tunnel("[::1]")},
			risky: []string{"10.0.0.5:5432", "8.8.8.8:443", "[2001:4860::8888]:8443", "[::1]:443"}},
		{name: "an IP an IP rule allows is not suggested", yaml: "network:\n  allow: [10.0.0.0/8]\n",
			reqs: []trace.Request{tunnel("10.0.0.5:5432")}},
		{name: "a name that resolved to a private address: the name, and the address set apart", yaml: "",
			reqs: []trace.Request{
				denied("db.example.com:5432", strict.CheckAddr("db.example.com", netip.MustParseAddr("10.1.2.3"), 5432)),
				denied("db2.example.com", strict.CheckAddr("db2.example.com", netip.MustParseAddr("10.1.2.3"), 443)),
			},
			allow: []string{"db.example.com:5432", "db2.example.com"}, risky: []string{"10.1.2.3:443", "10.1.2.3:5432"}},
		{name: "a mapped name that resolved elsewhere", yaml: "network:\n  hosts: {db.test: 10.9.9.9}\n",
			reqs:  []trace.Request{denied("db.test", strict.CheckAddr("db.test", netip.MustParseAddr("10.1.2.3"), 443))},
			risky: []string{"10.1.2.3:443"}},
		{name: "many names below a domain below a registrable one: a wildcard", yaml: "",
			reqs: []trace.Request{tunnel("a.cdn.example.com"), tunnel("b.cdn.example.com"), tunnel("c.cdn.example.com"), tunnel("d.cdn.example.com"),
				tunnel("x.other.example.com")},
			allow: []string{"*.cdn.example.com", "x.other.example.com"}},
		{name: "too few names for a wildcard", yaml: "",
			reqs:  []trace.Request{tunnel("a.cdn.example.com"), tunnel("b.cdn.example.com"), tunnel("c.cdn.example.com")},
			allow: []string{"a.cdn.example.com", "b.cdn.example.com", "c.cdn.example.com"}},
		{name: "a wildcard over a registrable domain is set apart; the names are added", yaml: "",
			reqs:  []trace.Request{tunnel("a.example.co.uk"), tunnel("b.example.co.uk"), tunnel("c.example.co.uk"), tunnel("d.example.co.uk")},
			allow: []string{"a.example.co.uk", "b.example.co.uk", "c.example.co.uk", "d.example.co.uk"}, risky: []string{"*.example.co.uk"}},
		{name: "never a wildcard over a public suffix", yaml: "",
			reqs:  []trace.Request{tunnel("a.co.uk"), tunnel("b.co.uk"), tunnel("c.co.uk"), tunnel("d.co.uk")},
			allow: []string{"a.co.uk", "b.co.uk", "c.co.uk", "d.co.uk"}},
		{name: "wildcards keep ports", yaml: "",
			reqs:  []trace.Request{tunnel("a.s.example.com:8443"), tunnel("b.s.example.com:8443"), tunnel("c.s.example.com:8443"), tunnel("d.s.example.com:8443")},
			allow: []string{"*.s.example.com:8443"}},
		{name: "hosts no rule can name are skipped", yaml: "",
			reqs:      []trace.Request{tunnel("*.example.com"), tunnel("a b"), tunnel("10.0.0.0/8"), tunnel("x.example.com:99999"), {Method: "GET", Scheme: "http"}},
			skippedOK: true},
		{name: "denials for other reasons than the host add nothing", yaml: "network:\n  allow: [a.example.com]\n",
			reqs: []trace.Request{{Method: "CONNECT", Scheme: "tunnel", Host: "a.example.com", Decision: "deny: the TLS server name \"b.example.com\" is not the CONNECT host", Denied: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Suggest(Input{Requests: tt.reqs, Network: network(t, tt.yaml), Grants: tt.grants})
			if err != nil {
				t.Fatal(err)
			}
			if s.Strict != tt.strict || !reflect.DeepEqual(patterns(s.Allow), tt.allow) || !reflect.DeepEqual(riskyPatterns(s.Risky), tt.risky) {
				t.Fatalf("got strict %v, allow %q, risky %q; want %v, %q, %q", s.Strict, patterns(s.Allow), riskyPatterns(s.Risky), tt.strict, tt.allow, tt.risky)
			}
			if (len(s.Skipped) > 0) != tt.skippedOK {
				t.Fatalf("skipped %q", s.Skipped)
			}
		})
	}
}

func TestSuggestDetails(t *testing.T) {
	t.Parallel()
	strict := &policy.Policy{Mode: policy.Strict}
	reqs := []trace.Request{
		tunnel("a.example.com:8443"), get("https", "a.example.com:8443"),
		denied("db.example.com", strict.CheckAddr("db.example.com", netip.MustParseAddr("192.168.1.4"), 443)),
		tunnel("169.254.169.254:80"),
		{Method: "CONNECT", Host: "*.evil", Denied: true},
	}
	s, err := Suggest(Input{Requests: reqs})
	if err != nil {
		t.Fatal(err)
	}
	wantAllow := []Rule{{Pattern: "a.example.com:8443", Reached: []string{"a.example.com:8443"}}, {Pattern: "db.example.com", Reached: []string{"db.example.com:443"}}}
	if !reflect.DeepEqual(s.Allow, wantAllow) {
		t.Errorf("allow %+v, want %+v", s.Allow, wantAllow)
	}
	wantRisky := []Risky{
		{Pattern: "169.254.169.254:80", Reason: "169.254.169.254 is the cloud metadata address",
			Allows: "any connection to 169.254.169.254 on port 80 (the cloud metadata address), under any name that resolves there", Reached: []string{"169.254.169.254:80"}},
		{Pattern: "192.168.1.4:443", Reason: `"db.example.com" resolved to 192.168.1.4, a private address (RFC 1918)`,
			Allows: "any connection to 192.168.1.4 on port 443 (a private address (RFC 1918)), under any name that resolves there", Reached: []string{"db.example.com:443"}},
	}
	if !reflect.DeepEqual(s.Risky, wantRisky) {
		t.Errorf("risky %+v, want %+v", s.Risky, wantRisky)
	}
	if want := []string{`"*.evil": a destination is one host on one port`}; !reflect.DeepEqual(s.Skipped, want) {
		t.Errorf("skipped %q, want %q", s.Skipped, want)
	}
}

func TestSuggestPolicyNone(t *testing.T) {
	t.Parallel()
	_, err := Suggest(Input{Network: network(t, "network: {policy: none}\n"), Requests: []trace.Request{tunnel("a.example.com")}})
	if !errors.Is(err, ErrPolicyNone) {
		t.Fatalf("got %v, want ErrPolicyNone", err)
	}
}

// TestSuggestThenCheck is the promise of the command: under the policy
// the suggestion makes, every destination but the risky ones passes.
func TestSuggestThenCheck(t *testing.T) {
	t.Parallel()
	reqs := []trace.Request{tunnel("a.example.com:8443"), get("http", "b.example.com"), tunnel("x.cdn.example.com"), tunnel("y.cdn.example.com"),
		tunnel("z.cdn.example.com"), tunnel("w.cdn.example.com"), tunnel("10.0.0.1:22")}
	s, err := Suggest(Input{Requests: reqs, Network: network(t, "network: {policy: permissive}\n")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(policy.Strict, patterns(s.Allow), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		d, _, _ := destinationOf(r)
		if got := p.CheckHost(d.host, d.port); got.Allowed == d.addr.IsValid() {
			t.Errorf("%s: allowed %v (%s) under %q", d, got.Allowed, got.Rule, patterns(s.Allow))
		}
	}
}
