package config

import "testing"

func mustParse(t *testing.T, path, yaml string) *Config {
	t.Helper()
	c, err := Parse(path, []byte(yaml))
	if err != nil {
		t.Fatalf("Parse(%q): %v", yaml, err)
	}
	return c
}

// emptyDigest is sha256("moat.config.v1\n{}").
const emptyDigest = "46c880a69be2dc9a660bbb54de22d2ebd56e6961c80c78f3cb23d169f6a950dd"

// TestDigestStable pins digests: audit records, approvals and cache keys
// compare them across moat versions, so a change here must be deliberate
// (see digestVersion). The files pinned here write rules, mappings and
// dependencies in non-canonical forms, which are hashed as written.
func TestDigestStable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    *Config
		want string
	}{
		{"nil", nil, emptyDigest},
		{"empty", &Config{Path: "x"}, emptyDigest},
		{"full", mustParse(t, "agent.yaml", "name: a\ndependencies: [git]\nenv: {B: '2', A: '1'}\n"+
			"mounts: ['./c:/c:ro']\ncommand: [make, test]\n"),
			"ce31d17590661df50a295ffd7fca4cca2231e07b1c9a5ab7e96d30a2df2e7581"},
		{"strict network is the default", &Config{Network: Network{Policy: "strict", Allow: []AllowRule{}}}, emptyDigest},
		{"network and grants", mustParse(t, "agent.yaml", "network:\n  policy: strict\n  allow: [a.com, 10.0.0.0/8]\n"+
			"  hosts: {b.test: 10.0.0.2, a.test: 10.0.0.1}\n  ca: certs/ca.pem\ngrants: [github, my-api]\n"),
			"011fc732cb46c4e660d9b79fc37173e78f2031e1b4f3c8043ce4c989c4b99dd9"},
		{"written forms", mustParse(t, "agent.yaml", "name: x\n"+
			"dependencies: [node@22, npm:typescript, git, git, docker:dind]\ndocker: {install: docker, cache: true}\n"+
			"network:\n  allow: [API.Example.com., '*.B.example.com:8443', '::ffff:10.1.2.3', 10.0.0.0/8, '[::1]:443']\n"+
			"  hosts: {Api.Test.: '::ffff:172.17.0.1', b.test: 'fd00::1'}\n  ca: ./certs/ca.pem\n"+
			"grants: [github]\nmounts: ['./c:/c/', '~/x:/x:ro']\nenv: {A: '1'}\ncommand: [make, test]\nresources: {memory: 1g}\n"),
			"4006ddb8c510c67df6963431c8421fe535fc2597cc61eb7aaea0bbecfaa082c1"},
		{"permissive", mustParse(t, "agent.yaml", "network: {policy: permissive, allow: [10.0.0.5]}\n"),
			"e5d088ca39076afb8de4e2ba979eb172cf87e0df245fcfef2d90fe4cf9f055cb"},
		{"none", mustParse(t, "agent.yaml", "network: {policy: none}\n"),
			"46701d7c785d2be62f5db608b608efa31019153e77cd9384e1f34ee8e254721c"},
	}
	for _, tt := range tests {
		if got := tt.c.Digest(); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDigestIgnoresFormatting(t *testing.T) {
	t.Parallel()
	a := mustParse(t, "a/agent.yaml", "name: x\nenv: {A: '1', B: '2'}\nmounts: [./c:/c/]\ncommand: [make]\n")
	b := mustParse(t, "b/agent.yaml", `# same config
command:
  - make
mounts:
  - "./c:/c:rw"
env:
  B: "2"
  A: "1"
name: "x"
`)
	if a.Digest() != b.Digest() {
		t.Fatalf("digests differ: %s and %s", a.Digest(), b.Digest())
	}
}

func TestDigestDiffers(t *testing.T) {
	t.Parallel()
	docs := []string{
		"",
		"name: x",
		"name: y",
		"command: [make]",
		"command: [make, '']",
		"command: ['make ']",
		"dependencies: [git]",
		"dependencies: [git, jq]",
		"dependencies: [jq, git]",
		"env: {A: ''}",
		"env: {A: x}",
		"env: {B: x}",
		"mounts: [./c:/c]",
		"mounts: [./c:/c:ro]",
		"mounts: [./d:/c]",
		"network: {policy: permissive}",
		"network: {policy: none}",
		"network: {allow: [a.com]}",
		"network: {allow: [a.com, b.com]}",
		"network: {allow: [b.com, a.com]}",
		"network: {allow: ['a.com:443']}",
		"network: {hosts: {a.test: 10.0.0.1}}",
		"network: {hosts: {a.test: 10.0.0.2}}",
		"network: {hosts: {b.test: 10.0.0.1}}",
		"network: {ca: ca.pem}",
		"network: {ca: ./ca.pem}",
		"network: {policy: permissive, ca: ca.pem}",
		"grants: [github]",
		"grants: [my-api]",
		"grants: [github, my-api]",
		"grants: [my-api, github]",
	}
	seen := map[string]string{}
	for _, doc := range docs {
		d := mustParse(t, "agent.yaml", doc).Digest()
		if prev, dup := seen[d]; dup {
			t.Errorf("%q and %q have the same digest", prev, doc)
		}
		seen[d] = doc
	}
}

// TestDigestNetworkDefaults checks that spelling out the defaults of the
// network section leaves the digest of a config without it unchanged.
func TestDigestNetworkDefaults(t *testing.T) {
	t.Parallel()
	base := mustParse(t, "agent.yaml", "name: x\n").Digest()
	for _, doc := range []string{
		"name: x\nnetwork:\n",
		"name: x\nnetwork: {}\n",
		"name: x\nnetwork: {policy: strict}\n",
		"name: x\nnetwork: {policy: strict, allow: [], hosts: {}}\n",
		"name: x\ngrants: []\n",
	} {
		if got := mustParse(t, "agent.yaml", doc).Digest(); got != base {
			t.Errorf("%q: got digest %s, want %s as without the section", doc, got, base)
		}
	}
}
