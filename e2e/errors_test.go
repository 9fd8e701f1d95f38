//go:build e2e

package e2e

import (
	"path/filepath"
	"regexp"
	"testing"
)

// TestRunBadInput checks that moat's own failures before the command
// starts exit 125 with an error that says what is wrong, and leave no run
// directory and no container behind.
func TestRunBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		yaml   string   // agent.yaml; "" for no workspace at all
		env    []string // extra environment
		stderr []string // regular expressions stderr must match
	}{
		{
			name:   "unknown field",
			yaml:   "dependencies: []\nbogus: true\n",
			stderr: []string{`agent\.yaml:2:1: .*"bogus"`},
		},
		{
			name:   "unknown dependency",
			yaml:   "dependencies:\n  - jq\n  - nodejs\n",
			stderr: []string{`agent\.yaml:3:5: .*"nodejs"`, `"node"`},
		},
		{
			name: "missing workspace",
			stderr: []string{`workspace \S*no-such-workspace: no such directory`,
				`(?m)^Give the path of an existing directory`},
		},
		{
			name:   "engine unreachable",
			yaml:   "dependencies: []\n",
			env:    []string{"DOCKER_HOST=unix:///nonexistent.sock"},
			stderr: []string{`cannot reach the Docker engine at unix:///nonexistent\.sock`, `(?m)^Start the Docker engine .*dockerd`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newMoat(t)
			e.env = tt.env
			ws := filepath.Join(t.TempDir(), "no-such-workspace")
			if tt.yaml != "" {
				ws = e.untrustedWorkspace(map[string]string{"agent.yaml": tt.yaml})
			}
			res := e.mustRun(125, "run", ws, "--", "true")
			for _, re := range tt.stderr {
				if !regexp.MustCompile(re).MatchString(res.stderr) {
					t.Errorf("stderr does not match %q:\n%s", re, res.stderr)
				}
			}
			if dirs := e.runDirs(); len(dirs) != 0 {
				t.Errorf("got run directories %v, want none", dirs)
			}
			// The cleanup fails the test if a container labelled with the
			// workspace exists; check here too, to say which case made it.
			if cs := dockerIDs(t, "ps", "-aq", "--filter", "label=moat.workspace="+ws); len(cs) > 0 {
				t.Errorf("a container was created: %v", cs)
			}
		})
	}
}
