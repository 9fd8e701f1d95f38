// Package testutil owns helpers shared by the tests and the benchmarks:
// fixtures that need more than a few lines to make, and the seed of
// randomised tests.
package testutil

import (
	"archive/tar"
	"fmt"
	"os"
)

// BusyboxPath is the static busybox that scripts/testbed.sh installs.
const BusyboxPath = "/bin/busybox"

// WriteRootfs writes a tiny image root filesystem (static busybox with sh,
// echo, cat, wget and true) to path, for 'docker import' inside runs.
func WriteRootfs(path string) error {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("%w (scripts/testbed.sh installs busybox-static)", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))}); err != nil {
		return err
	}
	if _, err := tw.Write(bb); err != nil {
		return err
	}
	for _, cmd := range []string{"sh", "echo", "cat", "wget", "true", "sleep"} {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + cmd, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}); err != nil {
			return err
		}
	}
	return tw.Close()
}
