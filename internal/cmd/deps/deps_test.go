package deps

import (
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
