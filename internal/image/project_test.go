package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPackProjectContextFollowsNoLink: a project's context is the
// Dockerfile's directory as it is: a link the agent planted to a host
// file goes in as a link, never as the file; FIFOs and .git are left out;
// the same files give the same digest and a changed one another.
func TestPackProjectContextFollowsNoLink(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("HOST-SECRET"), 0o600)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM x\nCOPY . /src\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub", ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", ".git", "config"), []byte("git"), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "a.txt"), []byte("A"), 0o640)
	os.Symlink(outside, filepath.Join(dir, "leak"))
	os.Symlink("/", filepath.Join(dir, "sub", "root"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	pack := func() ProjectContext {
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		pc, err := PackProjectContext(root, "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}
	pc := pack()
	if bytes.Contains(pc.Tar, []byte("HOST-SECRET")) {
		t.Fatal("the context holds the content of a file outside it")
	}
	got := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(pc.Tar))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = string(h.Typeflag) + ":" + h.Linkname + ":" + string(data)
	}
	want := map[string]string{
		"Dockerfile": "0::FROM x\nCOPY . /src\n", "leak": "2:" + outside + ":", "sub/": "5::",
		"sub/a.txt": "0::A", "sub/root": "2:/:",
	}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if again := pack(); again.Digest != pc.Digest {
		t.Error("the same files gave another digest")
	}
	os.WriteFile(filepath.Join(dir, "sub", "a.txt"), []byte("B"), 0o640)
	if changed := pack(); changed.Digest == pc.Digest {
		t.Error("a changed file kept the digest")
	}
	if !strings.HasPrefix(pc.Dockerfile, "Dockerfile") {
		t.Errorf("Dockerfile %q", pc.Dockerfile)
	}
}
