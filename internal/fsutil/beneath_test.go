package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenBeneathRefusesLinks: a file in a directory another process
// writes to (a run's proxy directory) may be replaced by a link to a file
// of the user's, or by a FIFO; moat neither reads nor writes through it.
func TestOpenBeneathRefusesLinks(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("the user's file"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "sub", "ok"), []byte("ok"), 0o600)
	os.Symlink(secret, filepath.Join(dir, "link"))
	os.Symlink("sub/ok", filepath.Join(dir, "inner-link"))
	os.Symlink(outside, filepath.Join(dir, "dirlink"))
	os.Symlink("sub", filepath.Join(dir, "inner-dirlink"))
	syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600)
	tests := []struct {
		name string
		flag int
		want string // "" for success
	}{
		{"sub/ok", os.O_RDONLY, ""},
		{"link", os.O_RDONLY, "is a link"},
		{"link", os.O_WRONLY | os.O_APPEND | os.O_CREATE, "is a link"},
		{"inner-link", os.O_RDONLY, "is a link"},
		{"dirlink/secret", os.O_RDONLY, "is a link"},
		{"inner-dirlink/ok", os.O_RDONLY, "is a link"},
		{"fifo", os.O_RDONLY, "not a regular file"},
		{"fifo", os.O_WRONLY, "not a regular file"},
		{"../x", os.O_RDONLY, "not a plain relative path"},
		{"/etc/passwd", os.O_RDONLY, "not a plain relative path"},
		{"sub", os.O_RDONLY, "not a regular file"},
	}
	for _, tt := range tests {
		f, err := OpenBeneath(dir, tt.name, tt.flag, 0o600)
		if f != nil {
			f.Close()
		}
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("OpenBeneath(%q, %#x): got %v, want %q", tt.name, tt.flag, err, tt.want)
		}
	}
	if data, _ := os.ReadFile(secret); string(data) != "the user's file" {
		t.Fatalf("the file outside was changed: %q", data)
	}
	f, err := OpenBeneath(dir, "new", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("creating a new file: %v", err)
	}
	f.Close()
}
