package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

func TestNewCmdBuild(t *testing.T) {
	tests := []struct {
		args []string
		want Options
	}{
		{args: nil, want: Options{}},
		{args: []string{"./project", "--rebuild"}, want: Options{Workspace: "./project", Rebuild: true}},
	}
	for _, tt := range tests {
		got, _, err := cmdtest.Parse(NewCmdBuild, tt.args)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got.Workspace != tt.want.Workspace || got.Rebuild != tt.want.Rebuild {
			t.Errorf("%v: got %+v, want %+v", tt.args, got, tt.want)
		}
	}
	if _, _, err := cmdtest.Parse(NewCmdBuild, []string{"a", "b"}); err == nil {
		t.Errorf("two workspaces were accepted")
	}
}

// Test_buildImage: the tag on stdout; a second build reuses the image and
// says so; --rebuild builds again.
func Test_buildImage(t *testing.T) {
	mgr, eng := cmdtest.Manager(t)
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte("name: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(rebuild bool) (string, string) {
		ios, _, out, errOut := iostreams.Test()
		opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }, Workspace: ws, Rebuild: rebuild}
		if err := buildImage(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String()
	}
	out, _ := build(false)
	if !strings.HasPrefix(out, "moat/run:") || strings.Count(out, "\n") != 1 || eng.Builds != 1 {
		t.Fatalf("stdout %q after %d builds, want one tag after one build", out, eng.Builds)
	}
	again, errOut := build(false)
	if again != out || eng.Builds != 1 || !strings.Contains(errOut, "is up to date") {
		t.Fatalf("second build: stdout %q, stderr %q, %d builds; want the same tag, reused", again, errOut, eng.Builds)
	}
	if build(true); eng.Builds != 2 {
		t.Fatalf("--rebuild: %d builds, want 2", eng.Builds)
	}
}
