package cmdutil

import (
	"slices"
	"testing"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/state"
)

func TestRunCompletions(t *testing.T) {
	runs := []*state.Run{
		{ID: "run_aaa111", Name: "web", Status: state.Running, Command: []string{"./serve.sh"}},
		{ID: "run_bbb222", Name: "worker", Status: state.Exited, Command: []string{"make"}},
		{ID: "run_ccc333", Name: "db", Status: state.Lost},
	}
	tests := []struct {
		name       string
		activeOnly bool
		given      []string
		toComplete string
		want       []cobra.Completion
	}{
		{name: "names and IDs with a prefix", toComplete: "w", want: []cobra.Completion{"web\trunning ./serve.sh", "worker\texited make"}},
		{name: "IDs", toComplete: "run_c", want: []cobra.Completion{"run_ccc333\tlost "}},
		{name: "active only", activeOnly: true, want: []cobra.Completion{"web\trunning ./serve.sh", "run_aaa111\trunning ./serve.sh"}},
		{name: "a run already given is not offered again", given: []string{"web"}, toComplete: "w", want: []cobra.Completion{"worker\texited make"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runCompletions(runs, tt.activeOnly, tt.given, tt.toComplete); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGrantCompletions(t *testing.T) {
	grants := []grant.Grant{{Name: "github", Kind: "github", Hosts: []string{"api.github.com"}}, {Name: "gitlab", Kind: "http"}, {Name: "npm", Kind: "http"}}
	got := grantCompletions(grants, "git")
	want := []cobra.Completion{"github\tgithub api.github.com", "gitlab\thttp "}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
