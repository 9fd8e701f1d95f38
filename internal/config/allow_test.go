package config

import (
	"errors"
	"reflect"
	"testing"

	"github.com/moatsh/moat/internal/policy"
)

func TestAllowEntries(t *testing.T) {
	t.Parallel()
	c, err := Parse("agent.yaml", []byte(`network:
  allow:
    - api.example.com
    - host: api.github.com
      methods: [GET, HEAD]
      paths: ["/repos/org/repo/**", /user]
    - host: registry.npmjs.org
      read-only: true
    - {host: "*.uploads.test:8443", paths: [/upload/*]}
    - {host: plain.test}
    - {host: off.test, read-only: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		text    string
		methods []string
		paths   []string
		line    int
	}
	wants := []want{
		{"api.example.com", nil, nil, 0},
		{"api.github.com", []string{"GET", "HEAD"}, []string{"/repos/org/repo/**", "/user"}, 4},
		{"registry.npmjs.org", []string{"GET", "HEAD"}, nil, 7},
		{"*.uploads.test:8443", nil, []string{"/upload/*"}, 9},
		{"plain.test", nil, nil, 0},
		{"off.test", nil, nil, 0},
	}
	if len(c.Network.Allow) != len(wants) {
		t.Fatalf("got %d rules, want %d", len(c.Network.Allow), len(wants))
	}
	for i, w := range wants {
		a := c.Network.Allow[i]
		r, err := policy.ParseRule(w.text, policy.SourceAllow)
		if err != nil {
			t.Fatal(err)
		}
		if a.Text != w.text || a.Rule.Pattern != r.Pattern {
			t.Errorf("rule %d: got %q (%q), want %q", i, a.Text, a.Rule.Pattern, w.text)
		}
		req := a.Rule.Requests
		if w.methods == nil && w.paths == nil {
			if req != nil {
				t.Errorf("rule %d (%s): got requests %+v, want none", i, w.text, req)
			}
			continue
		}
		if req == nil || !reflect.DeepEqual(req.Methods, w.methods) || !reflect.DeepEqual(req.PathStrings(), w.paths) || req.Line != w.line {
			t.Errorf("rule %d (%s): got %+v, want methods %q paths %q line %d", i, w.text, req, w.methods, w.paths, w.line)
		}
	}
}

func TestAllowEntryErrors(t *testing.T) {
	t.Parallel()
	const hint = `Write a host ("api.example.com") or a mapping such as {host: api.example.com, methods: [GET, HEAD], paths: ["/v1/**"]}.`
	tests := []struct {
		name, yaml, want, hint string
	}{
		{"no host", "network:\n  allow:\n    - methods: [GET]\n",
			`agent.yaml:3:7: network.allow: an entry written as a mapping needs a host`, hint},
		{"unknown key", "network:\n  allow:\n    - host: a.com\n      method: [GET]\n",
			`agent.yaml:4:7: network.allow: unknown key "method" in an entry`, `Did you mean "methods"?`},
		{"read-only spelled with an underscore", "network: {allow: [{host: a.com, read_only: true}]}\n",
			`agent.yaml:1:33: network.allow: unknown key "read_only" in an entry`, `Did you mean "read-only"?`},
		{"unknown key far off", "network: {allow: [{host: a.com, query: x}]}\n",
			`agent.yaml:1:33: network.allow: unknown key "query" in an entry`, "Valid keys of a network.allow entry: host, methods, paths, read-only, tunnel-only."},
		{"duplicate key", "network:\n  allow:\n    - host: a.com\n      paths: [/a]\n      paths: [/b]\n",
			`agent.yaml:5:7: network.allow: duplicate key "paths" in an entry (first at 4:7)`, "Remove one of them."},
		{"tunnel-only with paths", "network:\n  allow:\n    - host: a.com\n      tunnel-only: true\n      paths: [/a]\n",
			`agent.yaml:5:7: network.allow: a tunnel-only host's requests are not seen, so methods, paths and read-only cannot apply`,
			"Remove tunnel-only to check its requests, or the request rules to tunnel it."},
		{"tunnel-only on a range", "network: {allow: [{host: 10.0.0.0/8, tunnel-only: true}]}\n",
			`agent.yaml:1:38: network.allow: tunnel-only applies to host names, not to IP addresses or ranges`, "Name the host: tunnel-only applies to names."},
		{"read-only and methods", "network:\n  allow:\n    - host: a.com\n      read-only: true\n      methods: [GET]\n",
			`agent.yaml:5:7: network.allow: an entry sets both methods and read-only`, "Keep one of them: read-only: true is methods: [GET, HEAD]."},
		{"methods and read-only", "network: {allow: [{host: a.com, methods: [GET], read-only: false}]}\n",
			`agent.yaml:1:49: network.allow: an entry sets both methods and read-only`, "Keep one of them: read-only: true is methods: [GET, HEAD]."},
		{"read-only not a bool", "network: {allow: [{host: a.com, read-only: yes please}]}\n",
			`agent.yaml:1:44: network.allow read-only: expected true or false, got a string`, "Write true or false."},
		{"empty methods", "network:\n  allow:\n    - host: a.com\n      methods: []\n",
			`agent.yaml:4:7: network.allow a.com: methods: the list is empty`,
			"List the methods to allow, or leave methods out to allow every method."},
		{"empty paths", "network: {allow: [{host: a.com, paths: []}]}\n",
			`agent.yaml:1:33: network.allow a.com: paths: the list is empty`,
			"List the paths to allow, or leave paths out to allow every path."},
		{"lower-case method", "network:\n  allow:\n    - host: api.github.com\n      methods: [GET, post]\n",
			`agent.yaml:4:22: network.allow api.github.com: invalid method "post": methods are upper case, and a request's method is compared exactly`,
			`Use "POST".`},
		{"unknown method", "network: {allow: [{host: a.com, methods: [FETCH]}]}\n",
			`agent.yaml:1:43: network.allow a.com: invalid method "FETCH": not an HTTP method moat knows`,
			"Use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK, REPORT, SEARCH, QUERY."},
		{"CONNECT", "network: {allow: [{host: a.com, methods: [GET, CONNECT]}]}\n",
			`agent.yaml:1:48: network.allow a.com: invalid method "CONNECT": CONNECT opens the proxy's own tunnels and cannot be allowed per host`,
			"Remove it: the requests inside an HTTPS tunnel are checked by their own methods."},
		{"duplicate method", "network: {allow: [{host: a.com, methods: [GET, HEAD, GET]}]}\n",
			`agent.yaml:1:54: network.allow a.com: invalid method "GET": listed twice`, "Remove one."},
		{"methods a string", "network: {allow: [{host: a.com, methods: GET}]}\n",
			`agent.yaml:1:42: network.allow methods: expected a list of strings, got a string`, `Write a list: methods: ["GET"].`},
		{"relative path", "network:\n  allow:\n    - host: a.com\n      paths:\n        - /ok\n        - repos/**\n",
			`agent.yaml:6:11: network.allow a.com: invalid path "repos/**": paths are absolute`,
			`Start it with "/", as in "/repos/org/repo/**".`},
		{"path with a query", "network: {allow: [{host: a.com, paths: ['/a?x=1']}]}\n",
			`agent.yaml:1:41: network.allow a.com: invalid path "/a?x=1": paths match the path only, never the query or a fragment`,
			"Remove what starts at ?."},
		{"path with dot segment", "network: {allow: [{host: a.com, paths: [/a/../b]}]}\n",
			`agent.yaml:1:41: network.allow a.com: invalid path "/a/../b": contains a "." or ".." segment`, "Write the path it stands for."},
		{"double star in a segment", "network: {allow: [{host: a.com, paths: ['/a**']}]}\n",
			`agent.yaml:1:41: network.allow a.com: invalid path "/a**": "**" must be a whole segment`,
			`Write "/**" for any number of segments, or "*" within one.`},
		{"bad host in a mapping", "network:\n  allow:\n    - host: https://a.com/x\n",
			`agent.yaml:3:13: invalid rule "https://a.com/x" in network.allow: rules name hosts, not URLs`, `Use "a.com".`},
		{"unquoted wildcard host", "network:\n  allow:\n    - host: *.a.com\n      read-only: true\n",
			`agent.yaml:3:13: network.allow: YAML reads *.a.com as an alias; a wildcard rule must be quoted`, `Quote it: "*.a.com".`},
		{"host a number", "network: {allow: [{host: 10}]}\n", `agent.yaml:1:26: network.allow: expected a string, got a number`, `Quote it: "10".`},
		{"same host twice", "network:\n  allow:\n    - api.github.com\n    - host: api.github.com\n      read-only: true\n",
			`agent.yaml:4:13: duplicate rule "api.github.com" in network.allow (first at 3:7)`, "Remove one of them."},
		{"same host twice as mappings", "network:\n  allow:\n    - {host: a.com, read-only: true}\n    - {host: A.com., methods: [POST]}\n",
			`agent.yaml:4:14: duplicate rule "A.com." in network.allow: same as "a.com" (first at 3:14)`, "Remove one of them."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkError(t, tt.yaml, tt.want, tt.hint)
		})
	}
}

func TestAllowEntryErrorUnwrap(t *testing.T) {
	t.Parallel()
	_, err := Parse("agent.yaml", []byte("network: {allow: [{host: a.com, methods: [get]}]}\n"))
	var re *policy.RequestRuleError
	if !errors.As(err, &re) || re.Input != "get" {
		t.Errorf("got %v, want it to wrap the *policy.RequestRuleError", err)
	}
}

// A method or path list, or read-only, changes the digest; the same
// entry written as read-only or as its methods does not.
func TestDigestAllowEntries(t *testing.T) {
	t.Parallel()
	plain := mustParse(t, "agent.yaml", "network: {allow: [a.com]}\n").Digest()
	ro := mustParse(t, "agent.yaml", "network: {allow: [{host: a.com, read-only: true}]}\n").Digest()
	methods := mustParse(t, "agent.yaml", "network:\n  allow:\n    - host: a.com\n      methods: [GET, HEAD]\n").Digest()
	get := mustParse(t, "agent.yaml", "network: {allow: [{host: a.com, methods: [GET]}]}\n").Digest()
	paths := mustParse(t, "agent.yaml", "network: {allow: [{host: a.com, methods: [GET], paths: [/a]}]}\n").Digest()
	hostOnly := mustParse(t, "agent.yaml", "network: {allow: [{host: a.com}]}\n").Digest()
	if ro != methods {
		t.Errorf("read-only and [GET, HEAD] digest differently")
	}
	if hostOnly != plain {
		t.Errorf("{host: a.com} and a.com digest differently")
	}
	for name, d := range map[string]string{"read-only": ro, "GET": get, "paths": paths} {
		if d == plain {
			t.Errorf("%s: same digest as the plain rule", name)
		}
	}
	if get == paths || get == ro {
		t.Errorf("different methods or paths, same digest")
	}
}
