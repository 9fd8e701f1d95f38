package runtime

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteTar(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(src, []byte("binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		file     CopyFile
		wantName string
		wantMode int64
		wantData string
	}{
		{"host file", CopyFile{Path: "/usr/local/lib/x/moat", Mode: 0o755, Source: src}, "usr/local/lib/x/moat", 0o755, "binary"},
		{"data", CopyFile{Path: "/etc/b/c.toml", Mode: 0o644, Data: []byte("conf")}, "etc/b/c.toml", 0o644, "conf"},
		{"empty data", CopyFile{Path: "/e", Mode: 0o600, Data: []byte{}}, "e", 0o600, ""},
		{"unclean path", CopyFile{Path: "/a/../b//c", Mode: 0o644, Data: []byte("x")}, "b/c", 0o644, "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeTar(&buf, []CopyFile{tc.file}); err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(&buf)
			hdr, err := tr.Next()
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			if hdr.Name != tc.wantName || hdr.Mode != tc.wantMode || hdr.Uid != 0 || hdr.Typeflag != tar.TypeReg || string(data) != tc.wantData {
				t.Errorf("entry %q mode %o uid %d type %c data %q; want %q %o root's regular file %q",
					hdr.Name, hdr.Mode, hdr.Uid, hdr.Typeflag, data, tc.wantName, tc.wantMode, tc.wantData)
			}
			if _, err := tr.Next(); err != io.EOF {
				t.Errorf("more than one entry (%v): directories are the engine's to make", err)
			}
		})
	}
	if err := writeTar(io.Discard, []CopyFile{{Path: "/x", Source: filepath.Join(t.TempDir(), "absent")}}); err == nil {
		t.Error("an absent host file gave no error")
	}
}
