package podfs

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/moatsh/moat/internal/plural"
)

// Limits Unpack applies when UnpackOptions leaves them zero: far above a
// workspace's (a large monorepo with its dependencies has a few hundred
// thousand files), far below what fills a disk or a directory table.
const (
	DefaultMaxBytes   = 32 << 30
	DefaultMaxEntries = 2 << 20
)

// maxNameLen is the longest entry name Unpack takes: Linux's PATH_MAX.
const maxNameLen = 4096

// ErrLimit is wrapped by Unpack's error when the archive holds more bytes
// or entries than its options allow.
var ErrLimit = errors.New("archive over the limit")

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// UnpackOptions says what Unpack does besides writing the archive's
// entries. The zero value writes them with the process's own ownership,
// within the default limits, and removes nothing.
type UnpackOptions struct {
	// Mirror removes, once every entry is written, what is under the
	// directory and not in the archive, so that what was deleted on the
	// other side is deleted here too.
	Mirror bool
	// Owner, if set, is given every entry written (the process must be
	// allowed to chown).
	Owner *Owner
	// KeepOwners gives every entry written the archive's owner instead.
	KeepOwners bool
	// MaxBytes bounds the archive's total file content; 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	// MaxEntries bounds its number of entries; 0 means DefaultMaxEntries.
	MaxEntries int
}

// Unpack writes the tar stream r into the existing directory dir,
// treating it as hostile. It writes regular files, directories and
// symlinks only and refuses anything else (hard links, devices, FIFOs),
// names that are absolute, have a ".." component or appear twice, and
// entries whose directory is not an earlier directory entry. It follows
// no symlink, whether already in dir or written by the archive: each
// directory is opened relative to its parent with O_NOFOLLOW, and files
// and links are written under a temporary name and renamed over what was
// there (so that nothing a link or a hard link points at is changed). It
// drops set-user-ID, set-group-ID and sticky bits. An entry "./" gives dir
// itself its mode, owner and mtime.
//
// On an error, entries already written stay, nothing is removed (Mirror
// happens only after every entry is written), and the error names the
// entry and what was wrong with it.
func Unpack(r io.Reader, dir string, opts UnpackOptions) error {
	if opts.Owner != nil && opts.KeepOwners {
		return errors.New("unpacking: Owner and KeepOwners exclude each other")
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	u := &unpacker{root: root, dir: dir, opts: opts, kinds: map[string]bool{"": true}, cached: -1}
	defer u.close()
	tr := tar.NewReader(bufio.NewReaderSize(r, bufSize))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive after %s: %w", plural.Count(u.entries, "entry", "entries"), err)
		}
		if err := u.entry(h, tr); err != nil {
			return err
		}
	}
	if opts.Mirror {
		if err := u.mirror(u.root, ""); err != nil {
			return err
		}
	}
	return u.finishDirs()
}

type unpacker struct {
	root int    // dir, open
	dir  string // for errors
	opts UnpackOptions

	entries   int
	bytes     int64
	kinds     map[string]bool // every name written (dir's is ""): whether it is a directory
	rootMeta  bool            // whether "./" was seen
	dirs      []*tar.Header   // directory entries, whose metadata is applied last
	cachedDir string          // the directory cached is open as, or -1
	cached    int
}

// entryError is an error about one entry of the archive.
func entryError(name, format string, args ...any) error {
	return fmt.Errorf("archive entry %q: %s", name, fmt.Sprintf(format, args...))
}

func (u *unpacker) entry(h *tar.Header, body io.Reader) error {
	u.entries++
	if u.entries > u.opts.MaxEntries {
		return fmt.Errorf("archive entry %q: more than %s: %w", h.Name, plural.Count(u.opts.MaxEntries, "entry", "entries"), ErrLimit)
	}
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX defaults, already applied by the reader
	}
	name, err := cleanName(h.Name)
	if err != nil {
		return entryError(h.Name, "%v", err)
	}
	if name == "" {
		return u.rootEntry(h)
	}
	if _, dup := u.kinds[name]; dup {
		return entryError(h.Name, "it appears twice in the archive")
	}
	parent, base := path.Split(name)
	parent = strings.TrimSuffix(parent, "/")
	if isDir, ok := u.kinds[parent]; !ok || !isDir {
		return entryError(h.Name, "its directory %q is not an earlier directory entry", parent)
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		u.bytes += h.Size
		if u.bytes > u.opts.MaxBytes {
			return fmt.Errorf("archive entry %q: its %s %s the archive over %s: %w", h.Name,
				plural.Count(h.Size, "byte"), plural.Noun(h.Size, "takes", "take"), plural.Count(u.opts.MaxBytes, "byte"), ErrLimit)
		}
	case tar.TypeDir, tar.TypeSymlink:
	case tar.TypeLink:
		return entryError(h.Name, "a hard link (to %q); only files, directories and symlinks are written", h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return entryError(h.Name, "a device; only files, directories and symlinks are written")
	case tar.TypeFifo:
		return entryError(h.Name, "a FIFO; only files, directories and symlinks are written")
	default:
		return entryError(h.Name, "type %q; only files, directories and symlinks are written", h.Typeflag)
	}
	pfd, err := u.openParent(parent)
	if err != nil {
		return entryError(h.Name, "opening its directory: %v", err)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		err = u.mkdir(pfd, base, h)
	case tar.TypeSymlink:
		err = u.symlink(pfd, base, h)
	default:
		err = u.file(pfd, base, h, body)
	}
	if err != nil {
		return entryError(h.Name, "%v", err)
	}
	u.kinds[name] = h.Typeflag == tar.TypeDir
	return nil
}

// cleanName returns an entry's name relative to dir, without "./" or a
// trailing "/" ("" for dir itself), or why it is refused.
func cleanName(name string) (string, error) {
	if len(name) > maxNameLen {
		return "", fmt.Errorf("a name of %d bytes (at most %d)", len(name), maxNameLen)
	}
	if strings.HasPrefix(name, "/") {
		return "", errors.New("an absolute name")
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "..":
			return "", errors.New(`a ".." component`)
		case "", ".":
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "/"), nil
}

func (u *unpacker) rootEntry(h *tar.Header) error {
	if h.Typeflag != tar.TypeDir {
		return entryError(h.Name, "names the directory itself but is not a directory")
	}
	if u.rootMeta {
		return entryError(h.Name, "it appears twice in the archive")
	}
	u.rootMeta = true
	u.dirs = append(u.dirs, h)
	return nil
}

// openParent returns an fd of the directory parent (relative to dir),
// walked to from dir, or from the last one when it is below, one
// component at a time without following a link. The fd stays the
// unpacker's.
func (u *unpacker) openParent(parent string) (int, error) {
	if parent == "" {
		return u.root, nil
	}
	if u.cached >= 0 && parent == u.cachedDir {
		return u.cached, nil
	}
	from, rel := u.root, parent
	if u.cached >= 0 && strings.HasPrefix(parent, u.cachedDir+"/") {
		from, rel = u.cached, parent[len(u.cachedDir)+1:]
	}
	fd, err := openDirBeneath(from, rel)
	if err != nil {
		return -1, err
	}
	u.dropCache()
	u.cached, u.cachedDir = fd, parent
	return fd, nil
}

func (u *unpacker) dropCache() {
	if u.cached >= 0 {
		unix.Close(u.cached)
		u.cached = -1
	}
}

func (u *unpacker) close() {
	u.dropCache()
	unix.Close(u.root)
}

// openDirBeneath opens the directory rel below the directory open as
// from, refusing a symlink anywhere on the way.
func openDirBeneath(from int, rel string) (int, error) {
	fd := from
	for _, c := range strings.Split(rel, "/") {
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if fd != from {
			unix.Close(fd)
		}
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return -1, fmt.Errorf("%q is not a directory (a symlink is never followed)", c)
		}
		if err != nil {
			return -1, fmt.Errorf("%q: %w", c, err)
		}
		fd = next
	}
	return fd, nil
}

// mkdir makes the directory base in parent, or keeps the one there,
// writable by its owner until its own mode is applied at the end; a
// non-directory there is replaced.
func (u *unpacker) mkdir(parent int, base string, h *tar.Header) error {
	err := unix.Mkdirat(parent, base, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := unix.Unlinkat(parent, base, 0); err != nil {
				return fmt.Errorf("replacing what is there by a directory: %w", err)
			}
			err = unix.Mkdirat(parent, base, 0o700)
		} else if st.Mode&0o700 != 0o700 {
			err = chmodDirAt(parent, base, 0o700)
		} else {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	u.dirs = append(u.dirs, h)
	return nil
}

// chmodDirAt changes the mode of the directory base in parent, through an
// fd opened without following a link (fchmodat cannot refuse one on every
// kernel).
func chmodDirAt(parent int, base string, mode uint32) error {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fchmod(fd, mode)
}

// symlink writes a symlink under a temporary name, then renames it over
// base.
func (u *unpacker) symlink(parent int, base string, h *tar.Header) error {
	tmp := tempName()
	if err := unix.Symlinkat(h.Linkname, parent, tmp); err != nil {
		return fmt.Errorf("making the symlink to %q: %w", h.Linkname, err)
	}
	err := u.chownAt(parent, tmp, h)
	if err == nil {
		ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
		err = unix.UtimesNanoAt(parent, tmp, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == nil {
		err = replace(parent, tmp, base)
	}
	if err != nil {
		unix.Unlinkat(parent, tmp, 0)
	}
	return err
}

// file writes a regular file's content under a new temporary name, gives
// it its owner, mode (without set-ID and sticky bits) and mtime, then
// renames it over base.
func (u *unpacker) file(parent int, base string, h *tar.Header, body io.Reader) error {
	var fd int
	var tmp string
	for {
		tmp = tempName()
		var err error
		fd, err = unix.Openat(parent, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fmt.Errorf("creating the file: %w", err)
		}
		break
	}
	f := os.NewFile(uintptr(fd), tmp)
	err := writeFile(f, h, body, u.owner(h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = replace(parent, tmp, base)
	}
	if err != nil {
		unix.Unlinkat(parent, tmp, 0)
	}
	return err
}

func writeFile(f *os.File, h *tar.Header, body io.Reader, owner *Owner) error {
	if _, err := io.Copy(f, body); err != nil {
		return fmt.Errorf("writing its content: %w", err)
	}
	fd := int(f.Fd())
	if owner != nil {
		if err := unix.Fchown(fd, owner.UID, owner.GID); err != nil {
			return fmt.Errorf("giving it to %d:%d: %w", owner.UID, owner.GID, err)
		}
	}
	if err := unix.Fchmod(fd, uint32(h.Mode&0o777)); err != nil {
		return err
	}
	tv := unix.NsecToTimeval(h.ModTime.UnixNano())
	return unix.Futimes(fd, []unix.Timeval{tv, tv})
}

// owner is who an entry is given to: nil for the process itself.
func (u *unpacker) owner(h *tar.Header) *Owner {
	switch {
	case u.opts.Owner != nil:
		return u.opts.Owner
	case u.opts.KeepOwners:
		return &Owner{UID: h.Uid, GID: h.Gid}
	}
	return nil
}

func (u *unpacker) chownAt(parent int, name string, h *tar.Header) error {
	o := u.owner(h)
	if o == nil {
		return nil
	}
	if err := unix.Fchownat(parent, name, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("giving it to %d:%d: %w", o.UID, o.GID, err)
	}
	return nil
}

// replace renames tmp over base in parent; a directory there is removed
// first (without following a link in it).
func replace(parent int, tmp, base string) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := removeAllAt(parent, base); err != nil {
			return fmt.Errorf("removing the directory it replaces: %w", err)
		}
	}
	return unix.Renameat(parent, tmp, parent, base)
}

// tempName is a name nothing else uses, for an entry being written.
func tempName() string {
	var b [8]byte
	rand.Read(b[:])
	return ".podfs-" + hex.EncodeToString(b[:])
}

// finishDirs gives each directory entry its owner, mode and mtime, deepest
// first (an entry comes after its directory), after everything is written
// in them: writing changes a directory's mtime, and a mode without write
// or search permission would have stopped the writing.
func (u *unpacker) finishDirs() error {
	u.dropCache()
	for i := len(u.dirs) - 1; i >= 0; i-- {
		h := u.dirs[i]
		name, _ := cleanName(h.Name)
		fd := u.root
		if name != "" {
			var err error
			if fd, err = openDirBeneath(u.root, name); err != nil {
				return entryError(h.Name, "opening it to set its mode: %v", err)
			}
		}
		err := setDirMeta(fd, h, u.owner(h))
		if fd != u.root {
			unix.Close(fd)
		}
		if err != nil {
			return entryError(h.Name, "%v", err)
		}
	}
	return nil
}

func setDirMeta(fd int, h *tar.Header, owner *Owner) error {
	if owner != nil {
		if err := unix.Fchown(fd, owner.UID, owner.GID); err != nil {
			return fmt.Errorf("giving it to %d:%d: %w", owner.UID, owner.GID, err)
		}
	}
	if err := unix.Fchmod(fd, uint32(h.Mode&0o777)); err != nil {
		return fmt.Errorf("setting its mode: %w", err)
	}
	tv := unix.NsecToTimeval(h.ModTime.UnixNano())
	return unix.Futimes(fd, []unix.Timeval{tv, tv})
}
