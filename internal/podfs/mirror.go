package podfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mirror removes what is under the directory open as fd (named rel,
// relative to dir) and was not written from the archive, descending only
// into directories the archive wrote, never through a link.
func (u *unpacker) mirror(fd int, rel string) error {
	names, err := readNames(fd)
	if err != nil {
		return fmt.Errorf("mirroring: reading %s/%s: %w", u.dir, rel, err)
	}
	for _, n := range names {
		child := n
		if rel != "" {
			child = rel + "/" + n
		}
		isDir, written := u.kinds[child]
		if !written {
			if err := removeAllAt(fd, n); err != nil {
				return fmt.Errorf("mirroring: removing %s/%s, which the archive does not have: %w", u.dir, child, err)
			}
			continue
		}
		if !isDir {
			continue
		}
		sub, err := openDirBeneath(fd, n)
		if err != nil {
			return fmt.Errorf("mirroring: %s/%s: %w", u.dir, child, err)
		}
		err = u.mirror(sub, child)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

// removeAllAt removes name from the directory open as parent and, if it
// is a directory, everything in it, opening each directory relative to its
// parent without following a link: a link is removed, never what it
// points at.
func removeAllAt(parent int, name string) error {
	err := unix.Unlinkat(parent, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	var st unix.Stat_t
	if serr := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return err
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	// Its entries can be removed only while it is writable, and it is
	// going anyway.
	unix.Fchmod(fd, 0o700)
	names, err := readNames(fd)
	for _, n := range names {
		if err != nil {
			break
		}
		err = removeAllAt(fd, n)
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
}
