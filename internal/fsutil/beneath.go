package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenBeneath opens the file name, a relative path, inside dir without
// following a link anywhere on the way (each directory, and the file
// itself, is opened with O_NOFOLLOW), and only if it is a regular file:
// the open of a FIFO or device does not block, and is refused. Use it for
// files in a directory a less trusted process can write to (a run's proxy
// directory), where a link could point at any file of the user's.
func OpenBeneath(dir, name string, flag int, perm fs.FileMode) (*os.File, error) {
	parts := strings.Split(name, "/")
	if name == "" || strings.HasPrefix(name, "/") || containsDotDot(parts) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("not a plain relative path")}
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	for i, p := range parts[:len(parts)-1] {
		next, err := unix.Openat(dfd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dfd)
		if err != nil {
			return nil, beneathError(dir, strings.Join(parts[:i+1], "/"), err)
		}
		dfd = next
	}
	fd, err := unix.Openat(dfd, parts[len(parts)-1], flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, uint32(perm.Perm()))
	unix.Close(dfd)
	if err != nil {
		return nil, beneathError(dir, name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: dir + "/" + name, Err: errors.New("not a regular file")}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/"+name), nil
}

func containsDotDot(parts []string) bool {
	for _, p := range parts {
		if p == ".." || p == "." || p == "" {
			return true
		}
	}
	return false
}

// beneathError words the refusal of a link (O_NOFOLLOW fails with ELOOP
// on a link as the last component, O_DIRECTORY|O_NOFOLLOW with ENOTDIR on
// a link to a directory) and of a FIFO without a reader (ENXIO).
func beneathError(dir, name string, err error) error {
	if fi, lerr := os.Lstat(dir + "/" + name); lerr == nil && !errors.Is(err, unix.ENOENT) {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("refusing to open %s/%s: it is a link, and moat follows none in a run's directory", dir, name)
		case !fi.Mode().IsRegular() && !fi.IsDir():
			return &fs.PathError{Op: "open", Path: dir + "/" + name, Err: errors.New("not a regular file")}
		}
	}
	return &fs.PathError{Op: "open", Path: dir + "/" + name, Err: err}
}
