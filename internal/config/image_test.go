package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBaseImage(t *testing.T) {
	t.Parallel()
	c, err := Parse("agent.yaml", []byte("image: registry.example/team/dev:1.4\n"))
	if err != nil || c.Image != "registry.example/team/dev:1.4" || c.Dockerfile != "" {
		t.Fatalf("image: got %+v, %v", c, err)
	}
	c, err = Parse("agent.yaml", []byte("dockerfile: ./.devcontainer//Dockerfile\n"))
	if err != nil || c.Dockerfile != ".devcontainer/Dockerfile" || c.Image != "" {
		t.Fatalf("dockerfile: got %+v, %v", c, err)
	}
	a, _ := Parse("agent.yaml", []byte("dockerfile: Dockerfile\n"))
	b, _ := Parse("agent.yaml", []byte("dockerfile: Dockerfile.dev\n"))
	plain, _ := Parse("agent.yaml", []byte("name: x\n"))
	if a.Digest() == b.Digest() || a.Digest() == plain.Digest() {
		t.Error("the digest does not tell base images apart")
	}
}

func TestParseBaseImageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"image: ubuntu\n", "agent.yaml:1:8: image"},
		{"image: 'a b'\n", "agent.yaml:1:8: image"},
		{"image: x:1\ndockerfile: Dockerfile\n", "agent.yaml:2:13: image and dockerfile both name the run's base image"},
		{"dockerfile: Dockerfile\nimage: x:1\n", "agent.yaml:2:8: image and dockerfile both name the run's base image"},
		{"dockerfile: /etc/Dockerfile\n", `the path must be relative to the workspace`},
		{"dockerfile: ../Dockerfile\n", `the path leaves the workspace`},
		{"dockerfile: a/../../Dockerfile\n", `the path leaves the workspace`},
		{"dockerfile: .\n", `the path names the workspace`},
		{"dockerfile: ''\n", `the path is empty`},
	} {
		_, err := Parse("agent.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
		var ce *Error
		if err != nil && (!errors.As(err, &ce) || ce.Remedy == "") {
			t.Errorf("%q: %v has no remedy", tc.yaml, err)
		}
	}
}

// TestErrorsNameTheFileRelativeToHere: an agent.yaml below the current
// directory is named relative to it ("agent.yaml:1:8"), one elsewhere by
// its whole path.
func TestErrorsNameTheFileRelativeToHere(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, err := Parse(filepath.Join(dir, "agent.yaml"), []byte("image: ubuntu\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "agent.yaml:1:8: ") {
		t.Errorf("in the workspace: got %v, want agent.yaml:1:8: ...", err)
	}
	_, err = Parse(filepath.Join(dir, "sub", "agent.yaml"), []byte("image: ubuntu\n"))
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join("sub", "agent.yaml")+":1:8: ") {
		t.Errorf("below it: got %v", err)
	}
	elsewhere := filepath.Join(t.TempDir(), "agent.yaml")
	_, err = Parse(elsewhere, []byte("image: ubuntu\n"))
	if err == nil || !strings.HasPrefix(err.Error(), elsewhere+":1:8: ") {
		t.Errorf("elsewhere: got %v", err)
	}
}
