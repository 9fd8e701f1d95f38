package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatsh/moat/internal/fsutil"
)

// Lock takes the store-wide lock, held across a check and the write that
// depends on it (a run name is free, then the run that takes it is
// created), so two moat processes cannot both pass the check. It blocks
// until the lock is free; unlock releases it.
func (s *Store) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(s.Root, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", s.Root, err)
	}
	unlock, err = lockFile(filepath.Join(s.Root, "lock"))
	if err != nil {
		return nil, fmt.Errorf("locking the run store: %w", err)
	}
	return unlock, nil
}

// LockRun takes run id's own lock, held while one moat process finishes
// the run (records its end, keeps its logs, removes its containers), so
// that another (a 'moat list' reconciling it, a 'moat stop') waits and
// then finds it finished. It blocks until the lock is free. A run without
// a directory (destroyed) gives an error matching fs.ErrNotExist.
func (s *Store) LockRun(id string) (unlock func(), err error) {
	unlock, err = lockFile(s.Path(id, "lock"))
	if err != nil {
		return nil, fmt.Errorf("locking run %s: %w", id, err)
	}
	return unlock, nil
}

func lockFile(path string) (unlock func(), err error) { return fsutil.Lock(path) }

// LockBuild takes the lock for building image tag, held from the check
// that the image is missing to the record of the one built, so that runs
// started together build a new image once: the others wait (waiting is
// called if they must) and then find it. It gives up when ctx ends.
func (s *Store) LockBuild(ctx context.Context, tag string, waiting func()) (unlock func(), err error) {
	dir := filepath.Join(s.Root, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	name := "build-" + strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == '@' {
			return '-'
		}
		return r
	}, tag) + ".lock"
	unlock, err = fsutil.LockContext(ctx, filepath.Join(dir, name), waiting)
	if err != nil {
		return nil, fmt.Errorf("waiting for another build of image %s: %w", tag, err)
	}
	return unlock, nil
}
