// Package podfs owns copying a directory tree into and out of a pod as a
// tar stream: Pack writes a directory's regular files, directories and
// symlinks, Unpack writes such a stream into a directory. Unpack treats
// the stream as hostile (what comes out of a pod was shaped by the agent
// and is written on the user's host): it follows no symlink, writes
// nothing outside its directory and bounds what it writes. It is a leaf
// used on both sides, by the cluster adapter on the host and by
// 'moat-sidecar kube tar-in' / 'tar-out' in the pod.
package podfs

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatsh/moat/internal/plural"
)

// bufSize is the buffer between the tar stream and the exec stream it is
// written to or read from: tar works in 512-byte blocks.
const bufSize = 64 << 10

// Pack writes a tar of dir's contents to w: the directory itself as "./",
// then every regular file, directory and symlink under it by relative
// name, in lexical order, with numeric owners, permission bits and
// mtimes to the second. Sockets, devices and FIFOs are left out, and so
// are entries removed while Pack runs. It never follows a symlink under
// dir (dir itself may be one) and holds one directory's names at a time.
func Pack(w io.Writer, dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	bw := bufio.NewWriterSize(w, bufSize)
	p := &packer{tw: tar.NewWriter(bw), dir: dir}
	if err := p.tw.WriteHeader(header("./", &st, tar.TypeDir)); err != nil {
		return err
	}
	if err := p.walk(fd, ""); err != nil {
		return err
	}
	if err := p.tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

type packer struct {
	tw  *tar.Writer
	dir string // for errors
}

// walk writes the entries of the directory open as fd, whose name in the
// archive is rel ("" or ending in "/").
func (p *packer) walk(fd int, rel string) error {
	names, err := readNames(fd)
	if err != nil {
		return fmt.Errorf("reading directory %s/%s: %w", p.dir, rel, err)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := p.entry(fd, n, rel+n); err != nil {
			return err
		}
	}
	return nil
}

func (p *packer) entry(parent int, base, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed since the directory was read
		}
		return p.pathError("stat", name, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return p.file(parent, base, name)
	case unix.S_IFDIR:
		sub, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return p.pathError("open", name, err)
		}
		defer unix.Close(sub)
		if err := unix.Fstat(sub, &st); err != nil {
			return p.pathError("stat", name, err)
		}
		if err := p.tw.WriteHeader(header(name+"/", &st, tar.TypeDir)); err != nil {
			return err
		}
		return p.walk(sub, name+"/")
	case unix.S_IFLNK:
		target, err := readlinkat(parent, base)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return p.pathError("readlink", name, err)
		}
		h := header(name, &st, tar.TypeSymlink)
		h.Linkname = target
		return p.tw.WriteHeader(h)
	}
	return nil // a socket, device or FIFO: not part of a workspace's content
}

// file writes a regular file, opened without following a link and without
// blocking (it may have been replaced by a FIFO since it was listed), with
// the size it has once open.
func (p *packer) file(parent int, base, name string) error {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) {
		return nil // removed, or replaced by a link or a FIFO, since it was listed
	}
	if err != nil {
		return p.pathError("open", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return p.pathError("stat", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	h := header(name, &st, tar.TypeReg)
	h.Size = st.Size
	if err := p.tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.CopyN(p.tw, f, st.Size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s/%s: it shrank from %d to %s while being copied; copy again once nothing writes to it", p.dir, name, st.Size, plural.Count(n, "byte"))
	}
	if err != nil {
		return fmt.Errorf("copying %s/%s: %w", p.dir, name, err)
	}
	return nil
}

func (p *packer) pathError(op, name string, err error) error {
	return &os.PathError{Op: op, Path: p.dir + "/" + name, Err: err}
}

// header is the tar header of an entry: numeric owners only (no user
// names: the two sides do not share a user database), the mtime truncated
// to the second (the format's own precision) so that it never moves
// forward.
func header(name string, st *unix.Stat_t, typ byte) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     int64(st.Mode & 0o7777),
		Uid:      int(st.Uid),
		Gid:      int(st.Gid),
		ModTime:  time.Unix(st.Mtim.Sec, 0),
	}
}

// readNames lists the directory open as fd, leaving fd open.
func readNames(fd int) ([]string, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	// The duplicate shares fd's offset: rewind both, so that a directory
	// can be listed more than once.
	if _, err := unix.Seek(dup, 0, io.SeekStart); err != nil {
		unix.Close(dup)
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	return f.Readdirnames(-1)
}

// readlinkat reads a symlink's target, whatever its length.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
