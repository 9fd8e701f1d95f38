package state

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/plural"
)

// clusterKeyFile, in KeysDir, signs what moat records on the pods it makes
// on a cluster and acts on later (where a run's directories are copied
// back to): a pod whose record was changed in the cluster, or made by
// another moat home, is not trusted.
const clusterKeyFile = "cluster.key"

// ClusterKeySize is the length of the cluster key.
const ClusterKeySize = 32

// ClusterKey returns the moat home's cluster key, creating it on first use
// (ClusterKeySize random bytes, mode 0600, its directory 0700). It follows
// no link: a link at keys/ or at the key file is refused, never written
// through, as is a key file other users may read or write.
func (s *Store) ClusterKey() ([]byte, error) {
	key, err := s.readClusterKey()
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.createClusterKey(); err != nil {
			return nil, err
		}
		key, err = s.readClusterKey()
	}
	return key, err
}

func (s *Store) clusterKeyPath() string { return filepath.Join(s.KeysDir(), clusterKeyFile) }

func (s *Store) readClusterKey() ([]byte, error) {
	path := s.clusterKeyPath()
	f, err := fsutil.OpenBeneath(s.Root, filepath.Base(s.KeysDir())+"/"+clusterKeyFile, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading the cluster key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the cluster key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the cluster key %s is accessible to other users (mode %04o); run 'chmod 600 %s' if only you have used it",
			path, fi.Mode().Perm(), path)
	}
	key, err := io.ReadAll(io.LimitReader(f, ClusterKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the cluster key %s: %w", path, err)
	}
	if len(key) != ClusterKeySize {
		return nil, fmt.Errorf("the cluster key %s holds %s, want %d; remove it to make a new one "+
			"(moat then trusts no pod made before, and copies nothing back from them)", path, plural.Count(len(key), "byte"), ClusterKeySize)
	}
	return key, nil
}

// createClusterKey writes a new key without ever replacing one: the key
// goes to a temporary file that is hard-linked into place (link(2) neither
// follows nor replaces what is there), so a concurrent creator or a crash
// never leaves a short or swapped key.
func (s *Store) createClusterKey() error {
	dir := s.KeysDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the cluster key's directory: %w", err)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("creating the cluster key: %s is not a directory (a link is not followed)", dir)
	}
	key := make([]byte, ClusterKeySize)
	rand.Read(key)
	err := fsutil.Publish(s.clusterKeyPath(), key, 0o600)
	if err != nil && !errors.Is(err, fs.ErrExist) { // another process made it first
		return fmt.Errorf("creating the cluster key: %w", err)
	}
	return nil
}
