package deps

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
)

func TestDepsInfo(t *testing.T) {
	tests := []struct {
		arg     string
		want    []string
		wantErr string
	}{
		{arg: "node", want: []string{"Name:         node\n", "Versions:     20, 22, 24\n", "dependencies: [node@22]\n"}},
		{arg: "docker", want: []string{"dependencies: [docker:host]\n", "(or docker:dind"}},
		{arg: "git", want: []string{"Install:      apt\n", "dependencies: [git]\n"}},
		{arg: "nodejs", wantErr: `unknown dependency "nodejs": did you mean "node"?`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			ios, _, out, _ := iostreams.Test()
			cmd := NewCmdDeps(&cmdutil.Factory{IOStreams: ios})
			cmd.SetArgs([]string{"info", tt.arg})
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestDepsListJSONShape pins 'moat deps list --json': lower-case keys,
// every one on every entry, lists and maps empty rather than null.
func TestDepsListJSONShape(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	cmd := NewCmdDeps(&cmdutil.Factory{IOStreams: ios})
	cmd.SetArgs([]string{"list", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "null") {
		t.Fatalf("null in the JSON:\n%s", out)
	}
	var entries []map[string]any
	if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
		t.Fatal(err)
	}
	want := []string{"aliases", "commands", "default", "description", "install", "name", "packages", "pins", "requires", "versions"}
	var git map[string]any
	for _, e := range entries {
		if keys := slices.Sorted(maps.Keys(e)); !slices.Equal(keys, want) {
			t.Fatalf("entry %v: keys %v, want %v", e["name"], keys, want)
		}
		if e["name"] == "git" {
			git = e
		}
	}
	wantGit := `{"aliases":["git-core"],"commands":[],"default":"","description":"Git version control","install":"apt","name":"git","packages":["git"],"pins":{},"requires":[],"versions":[]}`
	if got, _ := json.Marshal(git); string(got) != wantGit {
		t.Fatalf("git:\n%s\nwant\n%s", got, wantGit)
	}
}
