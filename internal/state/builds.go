package state

import (
	"os"
	"path/filepath"
	"strings"
)

// buildsDir holds the Dockerfiles of failed image builds, one directory per
// image tag, so that a user can read, and rebuild by hand, what failed.
func (s *Store) buildsDir() string { return filepath.Join(s.Root, "builds") }

// KeepFailedBuild saves the Dockerfile of a failed build of the image tag
// (moat/run:HASH keeps builds/HASH/Dockerfile) and returns its path.
func (s *Store) KeepFailedBuild(tag string, dockerfile []byte) (string, error) {
	name := tag[strings.LastIndexByte(tag, ':')+1:]
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		name = "unnamed"
	}
	dir := filepath.Join(s.buildsDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "Dockerfile")
	return path, WriteFileAtomic(path, dockerfile, 0o600)
}
