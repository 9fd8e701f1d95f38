package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterKeyIsMadeOnceAndKept(t *testing.T) {
	s := &Store{Root: filepath.Join(t.TempDir(), "home")}
	first, err := s.ClusterKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != ClusterKeySize || bytes.Equal(first, make([]byte, ClusterKeySize)) {
		t.Fatalf("key %x: want %d random bytes", first, ClusterKeySize)
	}
	fi, err := os.Lstat(s.clusterKeyPath())
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v: want a regular file with mode 0600", fi, err)
	}
	if di, err := os.Stat(s.KeysDir()); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("keys directory %v, %v: want mode 0700", di, err)
	}
	again, err := s.ClusterKey()
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("second read %x, %v: want the same key", again, err)
	}
}

// A link planted where the key or its directory goes is refused: moat
// neither trusts a key it points at nor writes one through it.
func TestClusterKeyRefusesLinks(t *testing.T) {
	elsewhere := t.TempDir()
	planted := filepath.Join(elsewhere, "known.key")
	known := bytes.Repeat([]byte{1}, ClusterKeySize)
	if err := os.WriteFile(planted, known, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("at the key file", func(t *testing.T) {
		s := &Store{Root: t.TempDir()}
		os.MkdirAll(s.KeysDir(), 0o700)
		if err := os.Symlink(planted, s.clusterKeyPath()); err != nil {
			t.Fatal(err)
		}
		if key, err := s.ClusterKey(); err == nil || !strings.Contains(err.Error(), "link") {
			t.Fatalf("key %x, error %v: want the link refused", key, err)
		}
	})
	t.Run("at a missing key file", func(t *testing.T) {
		s := &Store{Root: t.TempDir()}
		os.MkdirAll(s.KeysDir(), 0o700)
		target := filepath.Join(elsewhere, "made.key")
		if err := os.Symlink(target, s.clusterKeyPath()); err != nil {
			t.Fatal(err)
		}
		if key, err := s.ClusterKey(); err == nil {
			t.Fatalf("key %x: want the dangling link refused", key)
		}
		if _, err := os.Lstat(target); err == nil {
			t.Fatal("a key was written through the link")
		}
	})
	t.Run("at the keys directory", func(t *testing.T) {
		s := &Store{Root: t.TempDir()}
		if err := os.Symlink(elsewhere, s.KeysDir()); err != nil {
			t.Fatal(err)
		}
		if key, err := s.ClusterKey(); err == nil {
			t.Fatalf("key %x: want the linked directory refused", key)
		}
		if _, err := os.Lstat(filepath.Join(elsewhere, clusterKeyFile)); err == nil {
			t.Fatal("a key was written through the linked directory")
		}
	})
}

func TestClusterKeyOthersCanReadIsRefused(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	if _, err := s.ClusterKey(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(s.clusterKeyPath(), 0o644)
	if _, err := s.ClusterKey(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("error %v: want a key others can read refused", err)
	}
}
