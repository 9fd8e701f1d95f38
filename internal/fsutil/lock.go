package fsutil

import (
	"os"
	"syscall"
)

// Lock holds an exclusive flock(2) on path, created 0600 if missing, until
// unlock. The lock is per open file, so it excludes other processes and
// other opens in this one alike.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
