package revoke

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/state"
)

// keepNote is what revoking github says of the runs below: the active run
// using it keeps it until it ends; a finished one and one using another
// grant are not named.
const keepNote = "Runs already going keep it until they end: web (aaa111).\nStop them to end its use now: 'moat stop aaa111'.\n"

func Test_revoke(t *testing.T) {
	t.Parallel()
	runs := func(context.Context) ([]*state.Run, error) {
		return []*state.Run{
			{ID: "aaa111", Name: "web", Status: state.Running, Grants: []string{"openai", "github"}},
			{ID: "bbb222", Name: "old", Status: state.Exited, Grants: []string{"github", "internal-api"}},
			{ID: "ccc333", Name: "other", Status: state.Running, Grants: []string{"openai"}},
		}, nil
	}
	tests := []struct {
		name       string
		names      []string
		wantErr    string
		wantHint   string
		wantStderr string
		wantLeft   []string
	}{
		{name: "one", names: []string{"github"}, wantStderr: "Revoked grant github\n" + keepNote, wantLeft: []string{"internal-api"}},
		{name: "several", names: []string{"internal-api", "github"},
			wantStderr: "Revoked grant internal-api\nRevoked grant github\n" + keepNote},
		{name: "no run uses it: no note", names: []string{"internal-api"}, wantStderr: "Revoked grant internal-api\n", wantLeft: []string{"github"}},
		{name: "unknown builtin", names: []string{"openai"}, wantErr: `no grant named "openai"`,
			wantHint: "Run 'moat grant openai' to store one.", wantLeft: []string{"github", "internal-api"}},
		{name: "unknown among known: the others go", names: []string{"nope", "github"}, wantErr: `no grant named "nope"`,
			wantHint:   "Run 'moat grant list' to see your grants, or 'moat grant http nope --host HOST --header HEADER' to store one.",
			wantStderr: "Revoked grant github\n" + keepNote, wantLeft: []string{"internal-api"}},
		{name: "invalid name", names: []string{"../keys"}, wantErr: `invalid grant name "../keys": must be 1 to 41 lower-case letters, digits or hyphens, starting with a letter or digit`,
			wantLeft: []string{"github", "internal-api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			store := grant.NewStore(filepath.Join(dir, "grants"), grant.FileKey(filepath.Join(dir, "grants.key")))
			for _, g := range []grant.Grant{{Name: "github", Kind: grant.GitHub},
				{Name: "internal-api", Kind: grant.HTTP, Hosts: []string{"api.example.com"}, Header: "X-Api-Key"}} {
				if err := store.Put(g, grant.NewSecret([]byte("fake-token"))); err != nil {
					t.Fatal(err)
				}
			}
			ios, _, out, errOut := iostreams.Test()
			err := revoke(context.Background(), &Options{IO: ios, Grants: func() (*grant.Store, error) { return store, nil }, Runs: runs, Names: tt.names})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			var nf *grant.NotFoundError
			if tt.wantHint != "" && (!errors.As(err, &nf) || cmdutil.HintOf(err) != tt.wantHint) {
				t.Fatalf("got %v with hint %q, want a NotFoundError with %q", err, cmdutil.HintOf(err), tt.wantHint)
			}
			if out.String() != "" || errOut.String() != tt.wantStderr {
				t.Fatalf("stdout %q stderr %q, want nothing and %q", out, errOut, tt.wantStderr)
			}
			list, _ := store.List()
			var left []string
			for _, g := range list {
				left = append(left, g.Name)
			}
			if len(left) != len(tt.wantLeft) || len(left) > 0 && left[0] != tt.wantLeft[0] {
				t.Fatalf("left %v, want %v", left, tt.wantLeft)
			}
		})
	}
}
