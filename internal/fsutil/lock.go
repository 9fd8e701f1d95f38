package fsutil

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// Lock holds an exclusive flock(2) on path, created 0600 if missing, until
// unlock. The lock is per open file, so it excludes other processes and
// other opens in this one alike.
func Lock(path string) (unlock func(), err error) {
	return LockContext(context.Background(), path, nil)
}

// LockContext is Lock that calls waiting, once, if another holder makes it
// wait, and gives up when ctx ends.
func LockContext(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	release := func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		return release, nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, err
	}
	if waiting != nil {
		waiting()
	}
	// flock(2) blocks in the kernel: it waits in a goroutine, which lets
	// the lock go at once if nobody wants it any more.
	got := make(chan error) // unbuffered: a send nobody takes must not hold the lock
	abandoned := make(chan struct{})
	go func() {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		select {
		case got <- err:
		case <-abandoned:
			release()
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			return nil, err
		}
		return release, nil
	case <-ctx.Done():
		close(abandoned)
		return nil, context.Cause(ctx)
	}
}
