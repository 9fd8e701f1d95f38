package state

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock takes the store-wide lock, held across a check and the write that
// depends on it (a run name is free, then the run that takes it is
// created), so two moat processes cannot both pass the check. It blocks
// until the lock is free; unlock releases it.
func (s *Store) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(s.Root, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", s.Root, err)
	}
	f, err := os.OpenFile(filepath.Join(s.Root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the run store: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
