package suggest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	twoRules   = Change{Allow: []string{"api.example.com", "localhost:8443"}}
	withRisky  = Change{Allow: []string{"api.example.com"}, Risky: []Risky{{Pattern: "10.0.0.5:9", Reason: "10.0.0.5 is a private address (RFC 1918)"}}}
	strictOnly = Change{Strict: true}
)

func TestEdit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		change Change
		want   string
	}{
		{name: "no file", in: "", change: twoRules,
			want: "network:\n  allow:\n    - api.example.com\n    - \"localhost:8443\"\n"},
		{name: "no network section", in: "# my agent\nname: web # the name\ndependencies: [curl]\n", change: twoRules,
			want: "# my agent\nname: web # the name\ndependencies: [curl]\nnetwork:\n  allow:\n    - api.example.com\n    - \"localhost:8443\"\n"},
		{name: "no line end at the end", in: "name: web", change: twoRules,
			want: "name: web\nnetwork:\n  allow:\n    - api.example.com\n    - \"localhost:8443\"\n"},
		{name: "only comments", in: "# nothing yet\n", change: twoRules,
			want: "# nothing yet\nnetwork:\n  allow:\n    - api.example.com\n    - \"localhost:8443\"\n"},
		{name: "network without allow, comments kept", in: "network:\n  # private names\n  hosts:\n    api.test: 127.0.0.1 # loopback\n\n# the command\ncommand: [make]\n", change: twoRules,
			want: "network:\n  # private names\n  hosts:\n    api.test: 127.0.0.1 # loopback\n  allow:\n    - api.example.com\n    - \"localhost:8443\"\n\n# the command\ncommand: [make]\n"},
		{name: "block allow", in: "network:\n  allow:\n    - a.example.com   # first\n    - \"*.b.example.com\"\n  ca: ca.pem\nname: x\n", change: twoRules,
			want: "network:\n  allow:\n    - a.example.com   # first\n    - \"*.b.example.com\"\n    - api.example.com\n    - \"localhost:8443\"\n  ca: ca.pem\nname: x\n"},
		{name: "block allow at its key's column", in: "network:\n  allow:\n  - a.example.com\n  policy: strict\n", change: twoRules,
			want: "network:\n  allow:\n  - a.example.com\n  - api.example.com\n  - \"localhost:8443\"\n  policy: strict\n"},
		{name: "flow allow", in: "network:\n  allow: [a.example.com, \"*.b.example.com\"]  # keep\n", change: twoRules,
			want: "network:\n  allow: [a.example.com, \"*.b.example.com\", api.example.com, \"localhost:8443\"]  # keep\n"},
		{name: "empty flow allow", in: "network:\n  allow: []\n", change: twoRules,
			want: "network:\n  allow: [api.example.com, \"localhost:8443\"]\n"},
		{name: "flow allow over lines with a trailing comma", in: "network:\n  allow: [\n    a.example.com,  # a\n  ]\n", change: twoRules,
			want: "network:\n  allow: [\n    a.example.com,  # a\n   api.example.com, \"localhost:8443\"]\n"},
		{name: "empty allow", in: "network:\n  allow:\n  ca: x.pem\n", change: twoRules,
			want: "network:\n  allow:\n    - api.example.com\n    - \"localhost:8443\"\n  ca: x.pem\n"},
		{name: "empty network", in: "network:   # todo\nname: x\n", change: twoRules,
			want: "network:   # todo\n  allow:\n    - api.example.com\n    - \"localhost:8443\"\nname: x\n"},
		{name: "permissive to strict", in: "network:\n  policy: permissive   # for now\n  allow: [a.example.com]\n", change: Change{Strict: true, Allow: []string{"b.example.com"}},
			want: "network:\n  policy: strict   # for now\n  allow: [a.example.com, b.example.com]\n"},
		{name: "quoted permissive to strict", in: "network:\n  policy: 'permissive'\n", change: strictOnly,
			want: "network:\n  policy: 'strict'\n"},
		{name: "risky as comments", in: "network:\n  allow:\n    - a.example.com\n", change: withRisky,
			want: "network:\n  allow:\n    - a.example.com\n    - api.example.com\n    # - \"10.0.0.5:9\"  # not added, risky: 10.0.0.5 is a private address (RFC 1918)\n"},
		{name: "risky after a flow list", in: "network:\n  allow: [a.example.com]\n", change: withRisky,
			want: "network:\n  allow: [a.example.com, api.example.com]\n  # - \"10.0.0.5:9\"  # not added, risky: 10.0.0.5 is a private address (RFC 1918)\n"},
		{name: "CRLF and a byte-order mark", in: "\ufeffname: web\r\nnetwork:\r\n  ca: x.pem\r\n", change: twoRules,
			want: "\ufeffname: web\r\nnetwork:\r\n  ca: x.pem\r\n  allow:\r\n    - api.example.com\r\n    - \"localhost:8443\"\r\n"},
		{name: "indented top level", in: "  name: web\n  grants: [github]\n", change: twoRules,
			want: "  name: web\n  grants: [github]\n  network:\n    allow:\n      - api.example.com\n      - \"localhost:8443\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Edit("agent.yaml", []byte(tt.in), tt.change)
			if err != nil {
				t.Fatal(err)
			}
			if string(p.New) != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", p.New, tt.want)
			}
		})
	}
}

func TestEditRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"flow network", "network: {allow: [a.example.com]}\n", "line 1: network is written in flow style ({...})"},
		{"flow document", "{name: web}\n", "line 1: agent.yaml's top level is written in flow style ({...})"},
		{"anchored network", "network: &n\n  allow: [a.example.com]\n", "network is not a plain mapping"},
		{"aliased allow", "dependencies: &d [curl]\nnetwork:\n  allow: *d\n", "line 3: network.allow is not a list (an anchor, alias or tag)"},
		{"explicit null network", "network: ~\n", "line 1: network is set to null explicitly"},
		{"document end", "name: web\n...\n", `line 2: a document end marker ("...")`},
		{"lone carriage return", "name: web\rnetwork:\n", "line 1: a carriage return that does not end the line"},
		{"not agent.yaml", "name: [\n", "invalid YAML"},
		{"policy none", "network: {policy: none}\n", "network.policy \"none\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Edit("agent.yaml", []byte(tt.in), twoRules)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one with %q", err, tt.want)
			}
		})
	}
}

// TestEditFlowNetworkIsAnEditError checks that a refusal the command turns
// into "paste this instead" is an *EditError, and a file moat cannot read
// is not.
func TestEditFlowNetworkIsAnEditError(t *testing.T) {
	t.Parallel()
	var ee *EditError
	if _, err := Edit("agent.yaml", []byte("network: {policy: strict}\n"), twoRules); !errors.As(err, &ee) {
		t.Fatalf("flow network: got %v, want an *EditError", err)
	}
	if _, err := Edit("agent.yaml", []byte("nme: x\n"), twoRules); errors.As(err, &ee) {
		t.Fatalf("unknown field: got an *EditError %v, want config's error", err)
	}
}

func TestBlock(t *testing.T) {
	t.Parallel()
	got := Block(Change{Strict: true, Allow: []string{"a.example.com"}, Risky: withRisky.Risky})
	want := "network:\n  policy: strict\n  allow:\n    - a.example.com\n    # - \"10.0.0.5:9\"  # not added, risky: 10.0.0.5 is a private address (RFC 1918)\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	in := "name: web\ndependencies: [curl]\nenv:\n  A: b\nmounts: []\ncommand: [make]\nresources: {cpus: 1}\nnetwork:\n  policy: permissive\n  allow:\n    - a.example.com\n"
	p, err := Edit("agent.yaml", []byte(in), Change{Strict: true, Allow: []string{"b.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "--- a/agent.yaml\n+++ b/agent.yaml\n" +
		"@@ -6,6 +6,7 @@\n" +
		" command: [make]\n resources: {cpus: 1}\n network:\n-  policy: permissive\n+  policy: strict\n   allow:\n     - a.example.com\n+    - b.example.com\n"
	if got := p.Diff("agent.yaml"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDiffNewFileAndMissingLineEnd(t *testing.T) {
	t.Parallel()
	p, err := Edit("agent.yaml", nil, Change{Allow: []string{"a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "--- /dev/null\n+++ b/agent.yaml\n@@ -0,0 +1,3 @@\n+network:\n+  allow:\n+    - a.example.com\n"
	if got := p.Diff("agent.yaml"); got != want {
		t.Fatalf("new file: got\n%s\nwant\n%s", got, want)
	}
	p, err = Edit("agent.yaml", []byte("name: web"), Change{Allow: []string{"a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	want = "--- a/agent.yaml\n+++ b/agent.yaml\n@@ -1 +1,4 @@\n-name: web\n\\ No newline at end of file\n+name: web\n+network:\n+  allow:\n+    - a.example.com\n"
	want = strings.Replace(want, "@@ -1 +1,4 @@", "@@ -1,1 +1,4 @@", 1)
	if got := p.Diff("agent.yaml"); got != want {
		t.Fatalf("missing line end: got\n%s\nwant\n%s", got, want)
	}
}

// TestDiffApplies applies diffs with the tools users have, git apply and
// patch -p1, and compares the result with Edit's.
func TestDiffApplies(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{
		"new":     "",
		"append":  "name: web",
		"extend":  "# top\nnetwork:\n  policy: permissive # p\n  allow:\n    - a.example.com\n\n# tail\ncommand: [x]\n",
		"crlf":    "name: web\r\nnetwork:\r\n  allow: [a.example.com]\r\n",
		"two far": "network:\n  policy: permissive\n  hosts:\n    a: 127.0.0.1\n    b: 127.0.0.1\n    c: 127.0.0.1\n    d: 127.0.0.1\n    e: 127.0.0.1\n    f: 127.0.0.1\n    g: 127.0.0.1\n    h: 127.0.0.1\n  ca: x.pem\n",
	}
	for tool, argv := range map[string][]string{"git": {"git", "apply", "-"}, "patch": {"patch", "-s", "-p1"}} {
		if _, err := exec.LookPath(argv[0]); err != nil {
			t.Logf("%s is not installed; not tried", tool)
			continue
		}
		for name, in := range inputs {
			t.Run(tool+"/"+name, func(t *testing.T) {
				t.Parallel()
				p, err := Edit("agent.yaml", []byte(in), Change{Strict: strings.Contains(in, "permissive"), Allow: []string{"b.example.com", "*.c.example.com:8443"}, Risky: withRisky.Risky})
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				if in != "" {
					if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(in), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Dir, cmd.Stdin = dir, strings.NewReader(p.Diff("agent.yaml"))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s\ndiff:\n%s", argv, err, out, p.Diff("agent.yaml"))
				}
				got, err := os.ReadFile(filepath.Join(dir, "agent.yaml"))
				if err != nil || string(got) != string(p.New) {
					t.Fatalf("%s made\n%q\nwant\n%q (%v)", tool, got, p.New, err)
				}
			})
		}
	}
}
