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
