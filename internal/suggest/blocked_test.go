package suggest

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/trace"
)

func TestBlocks(t *testing.T) {
	t.Parallel()
	strict := &policy.Policy{Mode: policy.Strict}
	refused := func(host string, port int) trace.Request { return denied(host, strict.CheckHost(host, port)) }
	reqs := []trace.Request{
		tunnel("allowed.example.com"), // not refused: no line
		refused("pypi.org", 443), refused("files.example.com:8443", 8443), refused("pypi.org", 443),
		denied("db.example.com", strict.CheckAddr("db.example.com", netip.MustParseAddr("10.1.2.3"), 443)),
		denied("169.254.169.254:80", strict.CheckAddr("169.254.169.254", netip.MustParseAddr("169.254.169.254"), 80)),
		{Method: "POST", Scheme: "https", Host: "api.example.com", Path: "/x", Denied: true,
			Decision: "deny: POST /x on api.example.com is not allowed: network.allow \"api.example.com\" permits only the paths /y there"},
		{Method: "CONNECT", Host: "*.evil", Denied: true},
	}
	blocks, rules, err := Blocks(Input{Requests: reqs, Network: network(t, "network:\n  allow: [api.example.com]\n")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Blocked{
		{Dest: "pypi.org:443", Requests: 2, Rule: "pypi.org"},
		{Dest: "*.evil", Requests: 1, Why: "no rule can name it: a destination is one host on one port"},
		{Dest: "169.254.169.254:80", Requests: 1, Why: "not suggested: 169.254.169.254 is the cloud metadata address"},
		{Dest: "api.example.com:443", Requests: 1, Why: `POST /x on api.example.com is not allowed: network.allow "api.example.com" permits only the paths /y there`},
		{Dest: "db.example.com:443", Requests: 1, Why: `not suggested: "db.example.com" resolved to 10.1.2.3, a private address (RFC 1918)`},
		{Dest: "files.example.com:8443", Requests: 1, Rule: "files.example.com:8443"},
	}
	if !reflect.DeepEqual(blocks, want) {
		t.Errorf("blocks:\n got %+v\nwant %+v", blocks, want)
	}
	// db.example.com's name rule is left out: it would not get the
	// request through without the risky address rule.
	if want := []string{"files.example.com:8443", "pypi.org"}; !reflect.DeepEqual(rules, want) {
		t.Errorf("rules %q, want %q", rules, want)
	}
	if got, want := AllowLines(rules), []string{`- "files.example.com:8443"`, "- pypi.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("allow lines %q, want %q", got, want)
	}
}

func TestBlocksNothingRefused(t *testing.T) {
	t.Parallel()
	blocks, rules, err := Blocks(Input{Requests: []trace.Request{tunnel("a.example.com")}, Network: network(t, "network: {policy: permissive}\n")})
	if err != nil || blocks != nil || rules != nil {
		t.Fatalf("got %+v, %q, %v; want nothing", blocks, rules, err)
	}
}
