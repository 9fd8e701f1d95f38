package grant

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestFileKeyCreatesPrivateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys", "grants.key")
	k := FileKey(path)
	key, err := k.Key()
	if err != nil || len(key) != keySize {
		t.Fatalf("Key() = %d bytes, %v; want %d bytes", len(key), err, keySize)
	}
	again, err := k.Key()
	if err != nil || !bytes.Equal(key, again) {
		t.Fatalf("second Key() = different key or %v", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm() != want {
			t.Errorf("mode of %s = %v, %v; want %04o", p, info.Mode().Perm(), err, want)
		}
	}
	if got, want := k.Describe(), "key file "+path; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
}

func TestFileKeyRefusesBadFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    os.FileMode
		size    int
		wantErr string
		hint    string
	}{
		{"readable by others", 0o644, keySize, "accessible to other users (mode 0644)", "chmod 600"},
		{"writable by group", 0o620, keySize, "accessible to other users (mode 0620)", "chmod 600"},
		{"short", 0o600, 16, "holds 16 bytes, want 32", "Restore the key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if runtime.GOOS == "windows" && tt.mode != 0o600 {
				t.Skip("file modes do not apply on Windows")
			}
			path := filepath.Join(t.TempDir(), "grants.key")
			if err := os.WriteFile(path, make([]byte, tt.size), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode) // umask may have narrowed it
			key, err := FileKey(path).Key()
			var ke *KeyError
			if !errors.As(err, &ke) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(ke.Hint(), tt.hint) {
				t.Fatalf("got %d bytes, %v; want a *KeyError with %q and hint %q", len(key), err, tt.wantErr, tt.hint)
			}
		})
	}
}

// keyringStub stands in for an OS keyring backend.
type keyringStub struct{ err error }

func (k keyringStub) Key() ([]byte, error) { return bytes.Repeat([]byte{7}, keySize), k.err }
func (k keyringStub) Describe() string     { return "OS keyring" }

func TestWithFallback(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "grants.key")
	tests := []struct {
		name     string
		keyring  keyringStub
		wantDesc string
		wantErr  bool
		wantStub bool
	}{
		{"keyring works", keyringStub{}, "OS keyring", false, true},
		{"no keyring", keyringStub{err: ErrNoKeyring}, "key file " + path + " (no OS keyring found)", false, false},
		{"keyring fails", keyringStub{err: errors.New("locked")}, "OS keyring", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each case has its own WithFallback; the key file is created once
			ks := WithFallback(tt.keyring, FileKey(path))
			key, err := ks.Key()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Key() error = %v, want error %v", err, tt.wantErr)
			}
			if got := ks.Describe(); got != tt.wantDesc {
				t.Errorf("Describe() = %q, want %q", got, tt.wantDesc)
			}
			if !tt.wantErr && bytes.Equal(key, bytes.Repeat([]byte{7}, keySize)) != tt.wantStub {
				t.Errorf("key came from the wrong source")
			}
		})
	}
}
