package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	c, err := Load(t.TempDir())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(*c, Config{}) {
		t.Fatalf("got %#v, want an empty Config", *c)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, FileName), "name: x\ncommand: [make]\n")
	c, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{Name: "x", Command: []string{"make"}, Path: filepath.Join(dir, FileName)}
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("got %#v, want %#v", *c, want)
	}
}

// TestLoadErrorPath checks that errors name the file relative to the
// working directory when it lies below it, however the caller reached it.
// It changes the working directory, so it does not run in parallel.
func TestLoadErrorPath(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, FileName), "name: x\nenv: {A: 1}\n")
	t.Chdir(dir)
	tests := []struct{ dir, want string }{
		{".", "agent.yaml:2:10: env A: expected a string, got a number"},
		{"", "agent.yaml:2:10: env A: expected a string, got a number"},
		{dir, "agent.yaml:2:10: env A: expected a string, got a number"},
	}
	for _, tt := range tests {
		_, err := Load(tt.dir)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Load(%q): got %v, want %q", tt.dir, err, tt.want)
		}
	}
}

func TestLoadMisnamed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "agent.yml"), "name: x\n")
	_, err := Load(dir)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error", err)
	}
	yml, yaml := filepath.Join(dir, "agent.yml"), filepath.Join(dir, "agent.yaml")
	if want := yml + ": moat reads agent.yaml, not agent.yml"; e.Error() != want {
		t.Fatalf("got %q, want %q", e.Error(), want)
	}
	if want := "Rename it with 'mv " + yml + " " + yaml + "'."; e.Hint() != want {
		t.Fatalf("got hint %q, want %q", e.Hint(), want)
	}
}

func TestLoadTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	writeFile(t, path, "# "+strings.Repeat("x", maxFileSize)+"\n")
	_, err := Load(dir)
	if want := path + ": the file is larger than 1 MiB"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestLoadUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if want := filepath.Join(dir, FileName) + ": cannot be read: not a regular file (a directory)"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestLoadHostileFile checks agent.yaml files an agent could plant: none
// is read outside the workspace, and none makes Load block.
func TestLoadHostileFile(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.yaml"), "name: secret\n")
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // after "<dir>/agent.yaml: cannot be read: "
	}{
		{"fifo", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, FileName), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file (a FIFO)"},
		{"absolute link out", func(t *testing.T, dir string) {
			mustSymlink(t, filepath.Join(outside, "secret.yaml"), filepath.Join(dir, FileName))
		}, "it leads outside the workspace (through a link or '..')"},
		{"relative link out", func(t *testing.T, dir string) {
			rel, _ := filepath.Rel(dir, filepath.Join(outside, "secret.yaml"))
			mustSymlink(t, rel, filepath.Join(dir, FileName))
		}, "it leads outside the workspace (through a link or '..')"},
		{"device", func(t *testing.T, dir string) {
			mustSymlink(t, "/dev/zero", filepath.Join(dir, FileName))
		}, "it leads outside the workspace (through a link or '..')"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := Load(dir)
			if want := filepath.Join(dir, FileName) + ": cannot be read: " + tt.want; err == nil || err.Error() != want {
				t.Fatalf("got %v, want %q", err, want)
			}
		})
	}
}

func TestLoadLinkInsideWorkspace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "conf", "real.yaml"), "name: inside\n")
	mustSymlink(t, "conf/real.yaml", filepath.Join(dir, FileName))
	c, err := Load(dir)
	if err != nil || c.Name != "inside" {
		t.Fatalf("got %+v, %v; want name inside", c, err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
