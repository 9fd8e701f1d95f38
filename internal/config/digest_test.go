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

// TestDigestStable pins digests: audit records compare them across moat
// versions, so a change here must be deliberate (see digestVersion).
func TestDigestStable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    *Config
		want string
	}{
		{"nil", nil, emptyDigest},
		{"empty", &Config{Path: "x"}, emptyDigest},
		{"full", &Config{
			Name: "a", Dependencies: []string{"git"}, Env: map[string]string{"B": "2", "A": "1"},
			Mounts: []Mount{{Source: "./c", Target: "/c", ReadOnly: true}}, Command: []string{"make", "test"},
		}, "ce31d17590661df50a295ffd7fca4cca2231e07b1c9a5ab7e96d30a2df2e7581"},
		{"strict network is the default", &Config{Network: Network{Policy: "strict", Allow: []string{}}}, emptyDigest},
		{"network and grants", &Config{
			Network: Network{Policy: "strict", Allow: []string{"a.com", "10.0.0.0/8"},
				Hosts: map[string]string{"b.test": "10.0.0.2", "a.test": "10.0.0.1"}, CA: "certs/ca.pem"},
			Grants: []string{"github", "my-api"},
		}, "011fc732cb46c4e660d9b79fc37173e78f2031e1b4f3c8043ce4c989c4b99dd9"},
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
