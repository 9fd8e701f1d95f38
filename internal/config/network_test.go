package config

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/policy"
)

func TestNetworkSection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		yaml   string
		want   Network
		grants []string
	}{
		{name: "absent", yaml: "name: x\n", want: Network{}},
		{name: "null", yaml: "network:\ngrants: ~\n", want: Network{}},
		{name: "empty", yaml: "network: {}\n", want: Network{}},
		{
			name: "every option",
			yaml: `network:
  policy: strict
  allow:
    - api.example.com
    - "*.githubusercontent.com"
    - example.org:8443
    - 10.1.2.0/24
    - "[::1]:443"
  hosts:
    api.test: 172.17.0.1
    db.internal: "fd00::5"
  ca: certs/internal-ca.pem
grants: [github, my-api]
`,
			want: Network{
				Policy: "strict",
				Allow:  allowRules(t, "api.example.com", "*.githubusercontent.com", "example.org:8443", "10.1.2.0/24", "[::1]:443"),
				Hosts:  []HostMapping{mapping("api.test", "172.17.0.1", "api.test"), mapping("db.internal", "fd00::5", "db.internal")},
				CA:     "certs/internal-ca.pem",
			},
			grants: []string{"github", "my-api"},
		},
		{name: "policy permissive", yaml: "network: {policy: permissive}\n", want: Network{Policy: "permissive"}},
		{name: "policy none", yaml: "network: {policy: none}\n", want: Network{Policy: "none"}},
		{name: "none with empty allow and hosts", yaml: "network: {policy: none, allow: [], hosts: {}}\n",
			want: Network{Policy: "none", Allow: []AllowRule{}, Hosts: []HostMapping{}}},
		{name: "permissive with allow is harmless", yaml: "network: {policy: permissive, allow: [a.com]}\n",
			want: Network{Policy: "permissive", Allow: allowRules(t, "a.com")}},
		{name: "permissive with hosts and ca", yaml: "network: {policy: permissive, hosts: {a.test: 10.0.0.1}, ca: /etc/ca.pem}\n",
			want: Network{Policy: "permissive", Hosts: []HostMapping{mapping("a.test", "10.0.0.1", "a.test")}, CA: "/etc/ca.pem"}},
		{name: "allow without policy", yaml: "network:\n  allow: [a.com]\n", want: Network{Allow: allowRules(t, "a.com")}},
		{name: "rules kept as written", yaml: "network: {allow: [API.Example.com., '*.X.org']}\n",
			want: Network{Allow: allowRules(t, "API.Example.com.", "*.X.org")}},
		{name: "a name and its wildcard are two rules", yaml: "network: {allow: [a.com, '*.a.com', 'a.com:443']}\n",
			want: Network{Allow: allowRules(t, "a.com", "*.a.com", "a.com:443")}},
		{name: "hosts names kept as written", yaml: "network: {hosts: {API.test: 10.0.0.1}}\n",
			want: Network{Hosts: []HostMapping{mapping("API.test", "10.0.0.1", "api.test")}}},
		{name: "hosts sorted by name, addresses unmapped", yaml: "network: {hosts: {b.test.: '::ffff:10.0.0.2', a.test: 10.0.0.1}}\n",
			want: Network{Hosts: []HostMapping{mapping("a.test", "10.0.0.1", "a.test"), mapping("b.test.", "::ffff:10.0.0.2", "b.test")}}},
		{name: "null options are unset", yaml: "network:\n  policy:\n  allow: ~\n  hosts:\n  ca:\n", want: Network{}},
		{name: "ca in home", yaml: "network: {ca: ~/certs/ca.pem}\n", want: Network{CA: "~/certs/ca.pem"}},
		{name: "empty grants", yaml: "grants: []\n", grants: []string{}},
		{name: "block grants", yaml: "grants:\n  - github\n  - anthropic\n  - 0-api\n", grants: []string{"github", "anthropic", "0-api"}},
		{name: "alias", yaml: "network: {policy: &p permissive}\ngrants: [*p]\n", want: Network{Policy: "permissive"}, grants: []string{"permissive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("agent.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(c.Network, tt.want) {
				t.Errorf("network: got %#v, want %#v", c.Network, tt.want)
			}
			if !reflect.DeepEqual(c.Grants, tt.grants) {
				t.Errorf("grants: got %#v, want %#v", c.Grants, tt.grants)
			}
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want string // Error()
		hint string
	}{
		// The section.
		{"not a mapping", "network: [a.com]\n", `agent.yaml:1:10: network: expected a mapping of options, got a list`,
			"Write it as a mapping, e.g. network: {policy: strict}."},
		{"a mode alone", "network: none\n", `agent.yaml:1:10: network: expected a mapping of options, got a string`,
			"Write it as a mapping: network: {policy: none}."},
		{"unknown option", "network:\n  alow: [a.com]\n", `agent.yaml:2:3: unknown network option "alow"`, `Did you mean "allow"?`},
		{"unknown option far off", "network: {proxy: x}\n", `agent.yaml:1:11: unknown network option "proxy"`,
			"Valid network options: allow, ca, git-push, hosts, policy."},
		{"unknown option null", "network:\n  mode:\n", `agent.yaml:2:3: unknown network option "mode"`,
			"Valid network options: allow, ca, git-push, hosts, policy."},
		{"duplicate option", "network:\n  ca: a.pem\n  ca: b.pem\n", `agent.yaml:3:3: duplicate network option "ca" (first at 2:3)`,
			"Remove one of them."},

		// policy.
		{"unknown policy", "network:\n  policy: open\n", `agent.yaml:2:11: network.policy: unknown value "open"`,
			"Use one of: strict, permissive, none."},
		{"policy case", "network: {policy: Strict}\n", `agent.yaml:1:19: network.policy: unknown value "Strict"`,
			"Use one of: strict, permissive, none."},
		{"policy bool", "network: {policy: false}\n", `agent.yaml:1:19: network.policy: expected a string, got a boolean`,
			`Quote it: "false".`},
		{"none with allow", "network:\n  policy: none\n  allow: [a.com]\n",
			`agent.yaml:2:3: network: policy none turns the network off, so allow would do nothing`,
			"Remove allow, or use policy strict."},
		{"none with all three", "network: {allow: [a.com], policy: none, ca: ca.pem, hosts: {a.test: 10.0.0.1}}\n",
			`agent.yaml:1:10: network: policy none turns the network off, so allow, hosts and ca would do nothing`,
			"Remove allow/hosts/ca, or use policy strict."},
		{"none with hosts", "network: {policy: none, hosts: {a.test: 10.0.0.1}}\n",
			`agent.yaml:1:10: network: policy none turns the network off, so hosts would do nothing`,
			"Remove hosts, or use policy strict."},

		// git-push.
		{"git-push string", "network:\n  git-push: agent/*\n", `agent.yaml:2:13: network.git-push: expected a list of strings, got a string`,
			`Write a list: git-push: ["agent/*"].`},
		{"git-push empty", "network:\n  git-push: []\n", `agent.yaml:2:13: network.git-push: an empty list would refuse every push`,
			`Name the branches a push may update, such as ["agent/*"], or remove git-push to allow any.`},
		{"git-push notes", "network:\n  git-push: [refs/notes/x]\n", `agent.yaml:2:14: network.git-push: pattern "refs/notes/x": only branches (refs/heads/...) and tags (refs/tags/...) can be allowed`,
			`Write a branch pattern such as "agent/*" or a full ref such as "refs/tags/v*".`},
		{"git-push dup", "network:\n  git-push: [\"agent/*\", refs/heads/agent/*]\n",
			`agent.yaml:2:25: duplicate pattern "refs/heads/agent/*" in network.git-push (first at 2:14)`, "Remove one of them."},
		{"none with git-push", "network: {policy: none, git-push: [main]}\n",
			`agent.yaml:1:10: network: policy none turns the network off, so git-push would do nothing`,
			"Remove git-push, or use policy strict."},

		// allow.
		{"allow string", "network:\n  allow: a.com, b.com\n", `agent.yaml:2:10: network.allow: expected a list of strings, got a string`,
			`Write a list: allow: ["a.com", "b.com"].`},
		{"allow mapping", "network:\n  allow: {a.com: 443}\n", `agent.yaml:2:10: network.allow: expected a list of strings, got a mapping`, ""},
		{"allow number", "network:\n  allow: [a.com, 10]\n", `agent.yaml:2:18: network.allow: expected a string, got a number`,
			`Quote it: "10".`},
		{"allow null item", "network:\n  allow:\n    -\n", `agent.yaml:3:7: network.allow: expected a string, got null`,
			`Write "" for an empty string.`},
		{"allow URL", "network:\n  allow:\n    - a.com\n    - https://api.example.com/v1\n",
			`agent.yaml:4:7: invalid rule "https://api.example.com/v1" in network.allow: rules name hosts, not URLs`,
			`Use "api.example.com".`},
		{"allow star", "network: {allow: ['*']}\n", `agent.yaml:1:19: invalid rule "*" in network.allow: a lone "*" would match every host`,
			"Set network.policy to permissive to allow every host."},
		{"allow unquoted wildcard", "network:\n  allow:\n    - a.com\n    - *.example.com\n",
			`agent.yaml:4:7: network.allow: YAML reads *.example.com as an alias; a wildcard rule must be quoted`,
			`Quote it: "*.example.com".`},
		{"allow unquoted wildcard in flow", "network: {allow: [*.example.com:443]}\n",
			`agent.yaml:1:19: network.allow: YAML reads *.example.com:443 as an alias; a wildcard rule must be quoted`,
			`Quote it: "*.example.com:443".`},
		{"allow empty", "network: {allow: ['']}\n", `agent.yaml:1:19: invalid rule "" in network.allow: rule is empty`,
			`Name a host such as "api.example.com".`},
		{"allow bad label without a fix", "network: {allow: [a..com]}\n", `agent.yaml:1:19: invalid rule "a..com" in network.allow: empty label`,
			`Write a host name ("api.example.com"), a wildcard ("*.example.com"), an IP or a CIDR ("10.0.0.0/8"), optionally with a port (":8443").`},
		{"allow CIDR host bits", "network: {allow: [10.1.2.3/24]}\n",
			`agent.yaml:1:19: invalid rule "10.1.2.3/24" in network.allow: address has bits set beyond the prefix length`,
			`Use "10.1.2.0/24".`},
		{"allow duplicate", "network:\n  allow:\n    - a.com\n    - b.com\n    - a.com\n",
			`agent.yaml:5:7: duplicate rule "a.com" in network.allow (first at 3:7)`, "Remove one of them."},
		{"allow duplicate written differently", "network: {allow: [a.com, A.com.]}\n",
			`agent.yaml:1:26: duplicate rule "A.com." in network.allow: same as "a.com" (first at 1:19)`, "Remove one of them."},

		// hosts.
		{"hosts list", "network:\n  hosts: [a.test]\n", `agent.yaml:2:10: network.hosts: expected a mapping of names to IP addresses, got a list`,
			"Write one name: address pair per line under hosts:, e.g. api.test: 172.17.0.1."},
		{"hosts wildcard", "network:\n  hosts:\n    \"*.a.test\": 10.0.0.1\n",
			`agent.yaml:3:5: invalid network.hosts entry "*.a.test": the key must be a plain host name, without wildcard, port or IP`,
			"Write a plain host name such as api.test; put wildcards, ports and IP ranges under allow."},
		{"hosts port", "network: {hosts: {'a.test:80': 10.0.0.1}}\n",
			`agent.yaml:1:19: invalid network.hosts entry "a.test:80": the key must be a plain host name, without wildcard, port or IP`,
			"Write a plain host name such as api.test; put wildcards, ports and IP ranges under allow."},
		{"hosts URL", "network: {hosts: {'http://a.test': 10.0.0.1}}\n",
			`agent.yaml:1:19: invalid network.hosts entry "http://a.test": rules name hosts, not URLs`, `Use "a.test".`},
		{"hosts bad label", "network: {hosts: {-a.test: 10.0.0.1}}\n",
			`agent.yaml:1:19: invalid network.hosts entry "-a.test": labels cannot start or end with "-"`,
			"Write a plain host name such as api.test."},
		{"hosts name as address", "network:\n  hosts:\n    api.test: host.docker.internal\n",
			`agent.yaml:3:15: invalid network.hosts entry "api.test": "host.docker.internal" is not an IP address`,
			"Write the IP address the proxy should dial for this name, such as 172.17.0.1; names are not resolved here."},
		{"hosts CIDR as address", "network: {hosts: {a.test: 10.0.0.0/8}}\n",
			`agent.yaml:1:27: invalid network.hosts entry "a.test": "10.0.0.0/8" is not an IP address`,
			"Write the IP address the proxy should dial for this name, such as 172.17.0.1; names are not resolved here."},
		{"hosts number", "network: {hosts: {a.test: 10}}\n", `agent.yaml:1:27: network.hosts a.test: expected a string, got a number`,
			`Quote it: "10".`},
		{"hosts null address", "network:\n  hosts:\n    a.test:\n", `agent.yaml:3:13: network.hosts a.test: expected an IP address, got null`,
			"Write the IP address the proxy should dial for this name, such as 172.17.0.1; names are not resolved here."},
		{"hosts duplicate", "network:\n  hosts:\n    a.test: 10.0.0.1\n    A.test.: 10.0.0.2\n",
			`agent.yaml:4:5: duplicate network.hosts name "A.test." (first at 3:5)`, "Remove one of them."},

		// ca.
		{"ca empty", "network: {ca: ''}\n", `agent.yaml:1:15: network.ca: the path is empty`,
			"Write the path of a PEM file, such as certs/ca.pem, or remove ca."},
		{"ca list", "network: {ca: [a.pem]}\n", `agent.yaml:1:15: network.ca: expected a string, got a list`, ""},
		{"ca user home", "network: {ca: ~bob/ca.pem}\n", `agent.yaml:1:15: network.ca "~bob/ca.pem": only a leading "~/" is expanded`,
			`Write "~/" for your home directory, a path relative to the workspace, or an absolute path.`},
		{"ca NUL", "network: {ca: \"a\\0\"}\n", `agent.yaml:1:15: network.ca: the path contains a NUL byte`, nulHint},

		// grants.
		{"grants string", "grants: github\n", `agent.yaml:1:9: grants: expected a list of strings, got a string`,
			`Write a list: grants: ["github"].`},
		{"grants string of two", "grants: github, my-api\n", `agent.yaml:1:9: grants: expected a list of strings, got a string`,
			`Write a list: grants: ["github", "my-api"].`},
		{"grants mapping", "grants: {github: true}\n", `agent.yaml:1:9: grants: expected a list of strings, got a mapping`, ""},
		{"grant number", "grants: [github, 7]\n", `agent.yaml:1:18: grants: expected a string, got a number`, `Quote it: "7".`},
		{"grant upper case", "grants:\n  - GitHub\n",
			`agent.yaml:2:5: invalid grant name "GitHub": must be 1 to 41 lower-case letters, digits or hyphens, starting with a letter or digit`,
			`Did you mean "github"?`},
		{"grant invalid", "grants: [my_api]\n",
			`agent.yaml:1:10: invalid grant name "my_api": must be 1 to 41 lower-case letters, digits or hyphens, starting with a letter or digit`,
			"Run 'moat grant list' to see the names of your grants."},
		{"grant empty", "grants: ['']\n",
			`agent.yaml:1:10: invalid grant name: must be 1 to 41 lower-case letters, digits or hyphens, starting with a letter or digit`,
			"Run 'moat grant list' to see the names of your grants."},
		{"grant duplicate", "grants:\n  - github\n  - my-api\n  - github\n", `agent.yaml:4:5: duplicate grant "github" (first at 2:5)`,
			"Remove one of them."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkError(t, tt.yaml, tt.want, tt.hint)
		})
	}
}

// TestNetworkErrorUnwrap checks that the policy and grant errors behind a
// config error stay reachable.
func TestNetworkErrorUnwrap(t *testing.T) {
	t.Parallel()
	_, err := Parse("agent.yaml", []byte("network: {allow: ['https://a.com']}\n"))
	var re *policy.RuleError
	if !errors.As(err, &re) || re.Input != "https://a.com" {
		t.Errorf("got %v, want it to wrap the *policy.RuleError", err)
	}
	_, err = Parse("agent.yaml", []byte("grants: [A]\n"))
	var ie *grant.InvalidError
	if !errors.As(err, &ie) || ie.Value != "A" {
		t.Errorf("got %v, want it to wrap the *grant.InvalidError", err)
	}
}

// allowRules is what Parse makes of network.allow entries written as texts.
func allowRules(t *testing.T, texts ...string) []AllowRule {
	t.Helper()
	rules := make([]AllowRule, len(texts))
	for i, s := range texts {
		r, err := policy.ParseRule(s, policy.SourceAllow)
		if err != nil {
			t.Fatal(err)
		}
		rules[i] = AllowRule{Text: s, Rule: r}
	}
	return rules
}

// mapping is a network.hosts entry written as name: address, which the
// proxy looks up as host.
func mapping(name, address, host string) HostMapping {
	return HostMapping{Name: name, Address: address, Host: host, Addr: netip.MustParseAddr(address).Unmap()}
}

func TestNetworkMode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		yaml string
		want policy.Mode
	}{
		{"name: x\n", policy.Strict},
		{"network: {policy: strict}\n", policy.Strict},
		{"network: {policy: permissive}\n", policy.Permissive},
		{"network: {policy: none}\n", policy.None},
	} {
		c, err := Parse("agent.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Network.Mode(); got != tt.want {
			t.Errorf("%q: Mode() = %q, want %q", tt.yaml, got, tt.want)
		}
	}
}
