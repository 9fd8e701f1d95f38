// Package fsutil owns moat's crash-safe file writes: data goes to a synced
// temporary file beside its target, then is renamed (replace) or linked
// (create once) into place, so readers never see a partial file.
package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteTemp writes data to a new file with mode perm in dir, synced to
// disk, and returns its path; the caller moves it into place.
func WriteTemp(dir, pattern string, data []byte, perm fs.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// WriteFileAtomic replaces path with data: readers see the old file or the
// new one, never a partial write.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := WriteTemp(dir, "."+filepath.Base(path)+".tmp*", data, perm)
	if err != nil {
		return targetError(path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return targetError(path, err)
	}
	SyncDir(dir)
	return nil
}

// Publish creates path with data only if it does not exist yet; when
// another process got there first it returns an error satisfying
// errors.Is(err, fs.ErrExist) and leaves that process's file alone.
func Publish(path string, data []byte, perm fs.FileMode) error {
	tmp, err := WriteTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*", data, perm)
	if err != nil {
		return targetError(path, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return targetError(path, err)
	}
	return nil
}

// targetError reports a failed write as one of path, the file the user
// named, never of the temporary file beside it ("open
// dir/.x.json.tmp643294203"), keeping the cause (errors.Is still finds
// fs.ErrNotExist, fs.ErrExist, fs.ErrPermission).
func targetError(path string, err error) error {
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	switch {
	case errors.As(err, &pathErr):
		err = pathErr.Err
	case errors.As(err, &linkErr):
		err = linkErr.Err
	}
	return &fs.PathError{Op: "write", Path: path, Err: err}
}

// SyncDir makes a rename or removal durable; best effort, as not every platform can
// sync a directory.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
