package grant

import (
	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/plural"

	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// keySize is the AES-256 key length.
const keySize = 32

// KeySource provides the store's 32-byte key. Describe names where the key
// lives, for messages: "OS keyring", "key file ~/.moat/keys/grants.key".
// An OS keyring backend implements it too, returning ErrNoKeyring from Key
// when the host has none (see WithFallback).
type KeySource interface {
	Key() ([]byte, error)
	Describe() string
}

// FileKey is a key kept in a file at path: 32 random bytes, created with
// mode 0600 (its directory 0700) on first use. A key file that group or
// others can read or write is refused (except on Windows, where modes do
// not apply).
func FileKey(path string) KeySource { return fileKey{path: path} }

type fileKey struct{ path string }

func (k fileKey) Describe() string { return "key file " + k.path }

func (k fileKey) Key() ([]byte, error) {
	key, err := k.read()
	if errors.Is(err, fs.ErrNotExist) {
		if err := k.create(); err != nil {
			return nil, err
		}
		key, err = k.read()
	}
	return key, err
}

func (k fileKey) read() ([]byte, error) {
	info, err := os.Stat(k.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, &KeyError{Source: k.Describe(), Why: "checking it", Err: err}
	}
	if err := k.checkInfo(info); err != nil {
		return nil, err
	}
	key, err := os.ReadFile(k.path)
	if err != nil {
		return nil, &KeyError{Source: k.Describe(), Why: "reading it", Err: err}
	}
	if len(key) != keySize {
		return nil, &KeyError{Source: k.Describe(), Why: fmt.Sprintf("it holds %s, want %d", plural.Count(len(key), "byte"), keySize),
			Remedy: "Restore the key file from a backup; grants stored with another key cannot be read."}
	}
	return key, nil
}

func (k fileKey) checkInfo(info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return &KeyError{Source: k.Describe(), Why: "it is not a regular file"}
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return &KeyError{Source: k.Describe(),
			Why:    fmt.Sprintf("it is accessible to other users (mode %04o)", info.Mode().Perm()),
			Remedy: fmt.Sprintf("Run 'chmod 600 %s' if only you have used it; otherwise revoke and store your grants again.", k.path)}
	}
	return nil
}

// create writes a new random key without ever replacing one: the key goes
// to a temporary file that is then hard-linked into place, so a concurrent
// creator or a crash never leaves a short or swapped key behind.
func (k fileKey) create() error {
	fail := func(why string, err error) error { return &KeyError{Source: k.Describe(), Why: why, Err: err} }
	dir := filepath.Dir(k.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("creating its directory", err)
	}
	key := make([]byte, keySize)
	rand.Read(key)
	if err := fsutil.Publish(k.path, key, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		return fail("creating it", err)
	}
	return nil
}

// WithFallback uses primary (an OS keyring) unless its Key returns
// ErrNoKeyring; then it uses fallback (a key file) for good, and Describe
// says so: "key file PATH (no OS keyring found)".
func WithFallback(primary, fallback KeySource) KeySource {
	return &fallbackKey{primary: primary, fallback: fallback}
}

type fallbackKey struct {
	primary, fallback KeySource
	mu                sync.Mutex
	fellBack          bool
}

func (f *fallbackKey) Key() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fellBack {
		key, err := f.primary.Key()
		if !errors.Is(err, ErrNoKeyring) {
			return key, err
		}
		f.fellBack = true
	}
	return f.fallback.Key()
}

func (f *fallbackKey) Describe() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fellBack {
		return f.fallback.Describe() + " (no OS keyring found)"
	}
	return f.primary.Describe()
}
