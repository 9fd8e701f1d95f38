package podfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostileArchives are archives the agent could send back out of its pod,
// each with what Unpack must say about it. Each is refused as a whole.
var hostileArchives = []struct {
	name    string
	ents    []ent
	opts    UnpackOptions
	wantErr string
}{
	{"an absolute name", []ent{fileEnt("/tmp/podfs-absolute", "x")}, UnpackOptions{},
		`archive entry "/tmp/podfs-absolute": an absolute name`},
	{"a .. component", []ent{fileEnt("../outside/secret", "x")}, UnpackOptions{},
		`archive entry "../outside/secret": a ".." component`},
	{"a .. component after a directory", []ent{dirEnt("a/"), fileEnt("a/../../outside/secret", "x")}, UnpackOptions{},
		`archive entry "a/../../outside/secret": a ".." component`},
	{"a file through a symlink it wrote", []ent{linkEnt("l", "../outside"), fileEnt("l/secret", "x")}, UnpackOptions{},
		`archive entry "l/secret": its directory "l" is not an earlier directory entry`},
	{"a directory entry replaced by a symlink later", []ent{dirEnt("d/"), linkEnt("d", "../outside"), fileEnt("d/secret", "x")}, UnpackOptions{},
		`archive entry "d": it appears twice in the archive`},
	{"a file replaced by a symlink later", []ent{fileEnt("f", "x"), linkEnt("f", "../outside/secret")}, UnpackOptions{},
		`archive entry "f": it appears twice in the archive`},
	{"a file in a directory never named", []ent{fileEnt("nodir/f", "x")}, UnpackOptions{},
		`archive entry "nodir/f": its directory "nodir" is not an earlier directory entry`},
	{"a hard link", []ent{{name: "h", typ: tar.TypeLink, link: "../outside/secret"}}, UnpackOptions{},
		`archive entry "h": a hard link (to "../outside/secret"); only files, directories and symlinks are written`},
	{"a character device", []ent{{name: "null", typ: tar.TypeChar}}, UnpackOptions{},
		`archive entry "null": a device; only files, directories and symlinks are written`},
	{"a block device", []ent{{name: "sda", typ: tar.TypeBlock}}, UnpackOptions{},
		`archive entry "sda": a device; only files, directories and symlinks are written`},
	{"a FIFO", []ent{{name: "fifo", typ: tar.TypeFifo}}, UnpackOptions{},
		`archive entry "fifo": a FIFO; only files, directories and symlinks are written`},
	{"the directory itself as a symlink", []ent{linkEnt("./", "../outside")}, UnpackOptions{},
		`archive entry "./": names the directory itself but is not a directory`},
	{"a name longer than PATH_MAX", []ent{fileEnt(strings.Repeat("n", 4097), "x")}, UnpackOptions{},
		`archive entry "` + strings.Repeat("n", 4097) + `": a name of 4097 bytes (at most 4096)`},
	{"too many entries", []ent{dirEnt("a/"), dirEnt("b/"), dirEnt("c/")}, UnpackOptions{MaxEntries: 2},
		`archive entry "c/": more than 2 entries: archive over the limit`},
	{"too many bytes", []ent{fileEnt("a", "0123456789"), {name: "b", typ: tar.TypeReg, size: 1 << 40}}, UnpackOptions{MaxBytes: 1 << 20},
		`archive entry "b": its 1099511627776 bytes take the archive over 1048576 bytes: archive over the limit`},
	{"one entry too many", []ent{dirEnt("a/"), dirEnt("b/")}, UnpackOptions{MaxEntries: 1},
		`archive entry "b/": more than 1 entry: archive over the limit`},
	{"one byte too many", []ent{fileEnt("a", "0123456789"), fileEnt("b", "x")}, UnpackOptions{MaxBytes: 10},
		`archive entry "b": its 1 byte takes the archive over 10 bytes: archive over the limit`},
	{"a file shorter than it says", []ent{{name: "short", typ: tar.TypeReg, size: 100}}, UnpackOptions{},
		`archive entry "short": writing its content: unexpected EOF`},
}

func TestUnpackRefusesHostileArchives(t *testing.T) {
	for _, tc := range hostileArchives {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t)
			before := s.outsideState(t)
			err := Unpack(bytes.NewReader(archive(t, tc.ents...)), s.dir, tc.opts)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("got error %v, want %s", err, tc.wantErr)
			}
			s.assertOutsideUnchanged(t, before)
			if _, err := os.Lstat("/tmp/podfs-absolute"); err == nil {
				t.Fatal("the absolute name was written")
			}
			// Nothing is left under a temporary name.
			names, _ := os.ReadDir(s.dir)
			for _, n := range names {
				if strings.HasPrefix(n.Name(), ".podfs-") {
					t.Errorf("a temporary file is left: %s", n.Name())
				}
			}
		})
	}
}

func TestUnpackLimitErrorIsTyped(t *testing.T) {
	s := newSandbox(t)
	err := Unpack(bytes.NewReader(archive(t, dirEnt("a/"), dirEnt("b/"))), s.dir, UnpackOptions{MaxEntries: 1})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("got %v, want ErrLimit", err)
	}
}

// TestUnpackNeverWritesThroughWhatIsThere: copy-out writes over the
// user's existing tree, where the agent (on Docker, or an earlier run)
// may have left links. What they point at is never changed.
func TestUnpackNeverWritesThroughWhatIsThere(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, s sandbox)
		ents  []ent
		check func(t *testing.T, s sandbox)
	}{
		{
			"a symlink where a file is written",
			func(t *testing.T, s sandbox) { mustSymlink(t, s.secret, filepath.Join(s.dir, "f")) },
			[]ent{fileEnt("f", "new")},
			func(t *testing.T, s sandbox) { wantRegular(t, filepath.Join(s.dir, "f"), "new") },
		},
		{
			"a hard link where a file is written",
			func(t *testing.T, s sandbox) {
				if err := os.Link(s.secret, filepath.Join(s.dir, "h")); err != nil {
					t.Fatal(err)
				}
			},
			[]ent{fileEnt("h", "new")},
			func(t *testing.T, s sandbox) { wantRegular(t, filepath.Join(s.dir, "h"), "new") },
		},
		{
			"a symlink where a directory is written",
			func(t *testing.T, s sandbox) { mustSymlink(t, s.outside, filepath.Join(s.dir, "d")) },
			[]ent{dirEnt("d/"), fileEnt("d/secret", "new")},
			func(t *testing.T, s sandbox) { wantRegular(t, filepath.Join(s.dir, "d", "secret"), "new") },
		},
		{
			"a symlink where a symlink is written",
			func(t *testing.T, s sandbox) { mustSymlink(t, s.outside, filepath.Join(s.dir, "l")) },
			[]ent{linkEnt("l", "elsewhere")},
			func(t *testing.T, s sandbox) {
				if got, _ := os.Readlink(filepath.Join(s.dir, "l")); got != "elsewhere" {
					t.Errorf("the link points at %q, want elsewhere", got)
				}
			},
		},
		{
			"a directory holding a link where a file is written",
			func(t *testing.T, s sandbox) {
				os.Mkdir(filepath.Join(s.dir, "x"), 0o755)
				mustSymlink(t, s.outside, filepath.Join(s.dir, "x", "l"))
			},
			[]ent{fileEnt("x", "new")},
			func(t *testing.T, s sandbox) { wantRegular(t, filepath.Join(s.dir, "x"), "new") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t)
			tc.plant(t, s)
			before := s.outsideState(t)
			if err := Unpack(bytes.NewReader(archive(t, tc.ents...)), s.dir, UnpackOptions{}); err != nil {
				t.Fatal(err)
			}
			s.assertOutsideUnchanged(t, before)
			tc.check(t, s)
		})
	}
}

func wantRegular(t *testing.T, name, content string) {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s is %v, want a regular file", name, fi.Mode())
	}
	if got := readString(t, name); got != content {
		t.Fatalf("%s holds %q, want %q", name, got, content)
	}
}

// TestOpenParentRefusesASymlink: the walk to an entry's directory refuses
// a link on the way even when the archive's own checks pass (a directory
// entry, then a link put there by something else).
func TestOpenParentRefusesASymlink(t *testing.T) {
	s := newSandbox(t)
	os.Mkdir(filepath.Join(s.dir, "a"), 0o755)
	mustSymlink(t, s.outside, filepath.Join(s.dir, "a", "b"))
	for _, walk := range [][]string{{"a/b"}, {"a", "a/b"}} { // from dir; from the cached "a"
		root, err := syscall.Open(s.dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		u := &unpacker{root: root, cached: -1}
		for _, dir := range walk[:len(walk)-1] {
			if _, err := u.openParent(dir); err != nil {
				t.Fatalf("opening %s: %v", dir, err)
			}
		}
		_, err = u.openParent("a/b")
		if err == nil || err.Error() != `"b" is not a directory (a symlink is never followed)` {
			t.Errorf("walk %q: opening a/b through a link: got error %v", walk, err)
		}
		u.close()
	}
}

func TestUnpackDropsSetIDAndStickyBits(t *testing.T) {
	s := newSandbox(t)
	a := archive(t, ent{name: "d/", typ: tar.TypeDir, mode: 0o1777}, ent{name: "d/suid", typ: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o6755})
	if err := Unpack(bytes.NewReader(a), s.dir, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"d": os.ModeDir | 0o777, "d/suid": 0o755} {
		fi, err := os.Lstat(filepath.Join(s.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
}

func TestUnpackOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user takes root")
	}
	a := func(t *testing.T) []byte {
		return archive(t, ent{name: "./", typ: tar.TypeDir, uid: 1234}, ent{name: "d/", typ: tar.TypeDir, uid: 1234},
			ent{name: "d/f", typ: tar.TypeReg, body: "x", uid: 1234}, ent{name: "l", typ: tar.TypeSymlink, link: "d", uid: 1234})
	}
	tests := []struct {
		name string
		opts UnpackOptions
		want uint32
	}{
		{"KeepOwners gives the archive's", UnpackOptions{KeepOwners: true}, 1234},
		{"Owner gives Owner", UnpackOptions{Owner: &Owner{UID: 4321, GID: 4321}}, 4321},
		{"neither leaves the process's", UnpackOptions{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t)
			if err := Unpack(bytes.NewReader(a(t)), s.dir, tc.opts); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"", "d", "d/f", "l"} {
				fi, err := os.Lstat(filepath.Join(s.dir, name))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if st.Uid != tc.want || st.Gid != tc.want {
					t.Errorf("%q is owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, tc.want, tc.want)
				}
			}
		})
	}
	s := newSandbox(t)
	err := Unpack(bytes.NewReader(a(t)), s.dir, UnpackOptions{KeepOwners: true, Owner: &Owner{}})
	if err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Fatalf("got %v, want the options refused", err)
	}
}
