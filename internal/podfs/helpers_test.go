package podfs

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// ent is one entry of a crafted archive.
type ent struct {
	name string
	typ  byte
	body string // a regular file's content
	link string // a symlink's target, a hard link's
	mode int64  // 0: 0644, or 0755 for a directory
	size int64  // the declared size when not len(body)
	uid  int
}

func archive(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(1700000000, 0)}
		if h.Mode == 0 {
			h.Mode = 0o644
			if e.typ == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
			if e.size != 0 {
				h.Size = e.size
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg && e.size == 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Flush() // no Close: a declared size beyond the body is an attack too
	return b.Bytes()
}

func dirEnt(name string) ent        { return ent{name: name, typ: tar.TypeDir} }
func fileEnt(name, body string) ent { return ent{name: name, typ: tar.TypeReg, body: body} }
func linkEnt(name, to string) ent   { return ent{name: name, typ: tar.TypeSymlink, link: to} }

// sandbox is a directory to unpack into and, beside it, a directory
// outside it holding a file an attack would reach.
type sandbox struct {
	dir, outside, secret string
}

const secretContent = "the user's file outside the directory"

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	top := t.TempDir()
	s := sandbox{dir: filepath.Join(top, "dir"), outside: filepath.Join(top, "outside")}
	s.secret = filepath.Join(s.outside, "secret")
	for _, d := range []string{s.dir, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.secret, []byte(secretContent), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// outsideState lists everything beside and outside dir, with each regular
// file's content and each entry's mode.
func (s sandbox) outsideState(t testing.TB) []string {
	t.Helper()
	var out []string
	top := filepath.Dir(s.dir)
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.dir {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := p + " " + info.Mode().String()
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s sandbox) assertOutsideUnchanged(t testing.TB, before []string) {
	t.Helper()
	if after := s.outsideState(t); !slices.Equal(before, after) {
		t.Fatalf("something outside the directory changed:\nbefore %q\nafter  %q", before, after)
	}
}

func mustSymlink(t testing.TB, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readString(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
