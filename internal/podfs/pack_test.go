package podfs

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// makeTree writes a tree of every kind Pack takes, and of those it
// leaves out, into dir, with a symlink to a directory outside whose
// content must not be packed.
func makeTree(t *testing.T, dir, outside string) {
	t.Helper()
	mustWrite(t, filepath.Join(dir, "README"), "hello\n")
	mustWrite(t, filepath.Join(dir, "src", "main.go"), "package main\n")
	mustWrite(t, filepath.Join(dir, "src", "deep", "er", "x.txt"), "deep")
	mustWrite(t, filepath.Join(dir, "private"), "mine")
	os.Chmod(filepath.Join(dir, "private"), 0o600)
	mustWrite(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\n")
	os.Chmod(filepath.Join(dir, "run.sh"), 0o755)
	mustWrite(t, filepath.Join(dir, "empty"), "")
	os.Mkdir(filepath.Join(dir, "emptydir"), 0o750)
	mustWrite(t, filepath.Join(dir, "ro", "kept"), "in a read-only directory")
	mustSymlink(t, "src/main.go", filepath.Join(dir, "rel-link"))
	mustSymlink(t, outside, filepath.Join(dir, "out-link"))
	mustSymlink(t, "dangling", filepath.Join(dir, "dangling-link"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	old := time.Unix(1600000000, 0)
	for _, p := range []string{"README", "src/deep/er/x.txt", "src/deep", "out-link"} {
		if err := lchtimes(filepath.Join(dir, p), old); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "ro"), 0o555)
}

func lchtimes(name string, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// treeState describes every entry under dir: name, type and mode, owner,
// mtime in seconds, and content or target.
func treeState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st := info.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d %d", rel, info.Mode(), st.Uid, st.Gid, info.ModTime().Unix())
		switch {
		case info.Mode().IsRegular():
			line += " " + readString(t, p)
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPackUnpackRoundTrip(t *testing.T) {
	src, outside := t.TempDir(), t.TempDir()
	mustWrite(t, filepath.Join(outside, "not-packed"), "outside")
	makeTree(t, src, outside)
	var buf bytes.Buffer
	if err := Pack(&buf, src); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner names %q:%q, want numeric owners only", h.Name, h.Uname, h.Gname)
		}
	}
	want := []string{"./", "README", "dangling-link", "empty", "emptydir/", "out-link", "private", "rel-link", "ro/", "ro/kept",
		"run.sh", "src/", "src/deep/", "src/deep/er/", "src/deep/er/x.txt", "src/main.go"}
	if !slices.Equal(names, want) {
		t.Fatalf("the archive holds\n%q\nwant\n%q (no FIFO, no socket, nothing through the link)", names, want)
	}

	dst := filepath.Join(t.TempDir(), "dst")
	os.Mkdir(dst, 0o700)
	if err := Unpack(bytes.NewReader(buf.Bytes()), dst, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	// The copy lacks the FIFO and the socket, and has the rest as it was.
	var wantState []string
	for _, line := range treeState(t, src) {
		if !bytes.HasPrefix([]byte(line), []byte("fifo ")) && !bytes.HasPrefix([]byte(line), []byte("sock ")) {
			wantState = append(wantState, line)
		}
	}
	if got := treeState(t, dst); !slices.Equal(got, wantState) {
		t.Fatalf("the copy differs:\ngot  %q\nwant %q", got, wantState)
	}
}

func TestPackFollowsDirItselfOnly(t *testing.T) {
	real := t.TempDir()
	mustWrite(t, filepath.Join(real, "f"), "x")
	link := filepath.Join(t.TempDir(), "link")
	mustSymlink(t, real, link)
	var buf bytes.Buffer
	if err := Pack(&buf, link); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Unpack(&buf, dst, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	wantRegular(t, filepath.Join(dst, "f"), "x")
}

// TestUnpackMirror: copy-out removes what the agent removed, and nothing
// a link left in the tree points at.
func TestUnpackMirror(t *testing.T) {
	s := newSandbox(t)
	// The user's tree before the run.
	mustWrite(t, filepath.Join(s.dir, "kept"), "old")
	mustWrite(t, filepath.Join(s.dir, "deleted"), "x")
	mustWrite(t, filepath.Join(s.dir, "deleted-dir", "sub", "f"), "x")
	mustSymlink(t, s.outside, filepath.Join(s.dir, "deleted-dir", "link-out"))
	mustWrite(t, filepath.Join(s.dir, "keptdir", "deleted"), "x")
	mustWrite(t, filepath.Join(s.dir, "ro", "deleted"), "x")
	os.Chmod(filepath.Join(s.dir, "ro"), 0o555)
	mustSymlink(t, s.outside, filepath.Join(s.dir, "link-out"))
	// What the run leaves: links to the outside directory, where a
	// mirror that followed them would find "secret" not in the archive.
	a := archive(t, fileEnt("kept", "new"), dirEnt("keptdir/"), dirEnt("ro/"), linkEnt("link-out", s.outside),
		linkEnt("new-link-out", s.outside), dirEnt("new/"), fileEnt("new/f", "n"))
	before := s.outsideState(t)
	if err := Unpack(bytes.NewReader(a), s.dir, UnpackOptions{Mirror: true}); err != nil {
		t.Fatal(err)
	}
	s.assertOutsideUnchanged(t, before)
	var got []string
	for _, line := range treeState(t, s.dir) {
		got = append(got, line[:bytes.IndexByte([]byte(line), ' ')])
	}
	want := []string{".", "kept", "keptdir", "link-out", "new", "new/f", "new-link-out", "ro"}
	if !slices.Equal(got, want) {
		t.Fatalf("after the mirror the directory holds %q, want %q", got, want)
	}
	wantRegular(t, filepath.Join(s.dir, "kept"), "new")
}

// TestUnpackWithoutMirrorRemovesNothing: the same, without Mirror (and
// after a failed unpack, which never mirrors).
func TestUnpackWithoutMirrorRemovesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    []ent
		fail bool
	}{
		{"without Mirror", []ent{fileEnt("kept", "new")}, false},
		{"a failed unpack", []ent{fileEnt("kept", "new"), {name: "dev", typ: tar.TypeChar}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			mustWrite(t, filepath.Join(s.dir, "other"), "x")
			err := Unpack(bytes.NewReader(archive(t, tc.a...)), s.dir, UnpackOptions{Mirror: tc.fail})
			if tc.fail != (err != nil) {
				t.Fatalf("got error %v, want failure %v", err, tc.fail)
			}
			wantRegular(t, filepath.Join(s.dir, "other"), "x")
		})
	}
}

// BenchmarkRoundTrip10k packs and unpacks a workspace of 10,000 small
// files in 100 directories.
func BenchmarkRoundTrip10k(b *testing.B) {
	src := b.TempDir()
	for d := range 100 {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", d))
		os.Mkdir(dir, 0o755)
		for f := range 100 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", f)), bytes.Repeat([]byte("x"), 200+f), 0o644)
		}
	}
	for b.Loop() {
		dst := b.TempDir()
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(Pack(pw, src)) }()
		if err := Unpack(pr, dst, UnpackOptions{Mirror: true}); err != nil {
			b.Fatal(err)
		}
	}
}
