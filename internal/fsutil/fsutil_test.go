package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomicReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, content := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if string(got) != content || fi.Mode().Perm() != 0o600 {
			t.Fatalf("got %q mode %v, want %q 0600", got, fi.Mode(), content)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestPublishCreatesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := Publish(path, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Publish(path, []byte("second"), 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Publish: got %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first" {
		t.Fatalf("got %q, want the first writer's file", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}
