package podfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpack: whatever the archive, nothing outside the directory is
// created, changed or removed, with Mirror on and a link to the outside
// already in the directory. The seeds are the hostile archives of
// TestUnpackRefusesHostileArchives and a packed tree.
func FuzzUnpack(f *testing.F) {
	for _, tc := range hostileArchives {
		f.Add(archive(f, tc.ents...))
	}
	f.Add(archive(f, dirEnt("./"), dirEnt("d/"), fileEnt("d/f", "x"), linkEnt("d/l", "../../outside"), dirEnt("e/"), linkEnt("e/up", "..")))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		mustSymlink(t, s.outside, filepath.Join(s.dir, "planted"))
		mustWrite(t, filepath.Join(s.dir, "existing", "f"), "x")
		before := s.outsideState(t)
		Unpack(bytes.NewReader(data), s.dir, UnpackOptions{Mirror: true, MaxBytes: 1 << 20, MaxEntries: 1000})
		s.assertOutsideUnchanged(t, before)
		if _, err := os.Lstat("/tmp/podfs-absolute"); err == nil {
			t.Fatal("an absolute name was written")
		}
	})
}
