package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"time"
)

// A project's base image: agent.yaml's dockerfile names a Dockerfile in
// the workspace, which moat builds into the base the run's image is
// layered on. Its context is the Dockerfile's directory, packed here, by
// moat, so that nothing outside it is read: the workspace is the agent's,
// and a link it plants in the context goes into the context as a link,
// never followed (the build sees the link, not what it names on the host).

// ProjectRepository is the repository of project base images, tagged with
// the start of their context's digest.
const ProjectRepository = "moat/base"

// MaxProjectContext bounds a project's build context.
const MaxProjectContext = 64 << 20

// ProjectContext is a Dockerfile's build context, packed.
type ProjectContext struct {
	Tar        []byte
	Dockerfile string // its name inside the context
	// Digest is the hex SHA-256 of Tar, which holds every file's name,
	// mode and content: the image's identity, and what an approval pins.
	Digest string
}

// ContextTooLargeError reports a build context beyond MaxProjectContext.
type ContextTooLargeError struct{ Dir string }

func (e *ContextTooLargeError) Error() string {
	return fmt.Sprintf("the build context %s is larger than %d MiB", e.Dir, MaxProjectContext>>20)
}

func (e *ContextTooLargeError) Hint() string {
	return "Move the Dockerfile to a directory of its own (such as .devcontainer/) holding only what its COPY and ADD need."
}

// PackProjectContext packs the directory root is opened on (the
// Dockerfile's, opened inside the workspace), with the Dockerfile named
// dockerfile inside it. Nothing outside root is read: a link is packed as
// a link, never followed. Entries are sorted, with no owner and no time,
// so the same files always give the same digest. Regular files,
// directories and links are packed; anything else (sockets, FIFOs,
// devices) is left out, and so is every .git directory.
func PackProjectContext(root *os.Root, dockerfile string) (ProjectContext, error) {
	if fi, err := root.Lstat(dockerfile); err != nil {
		return ProjectContext{}, err
	} else if !fi.Mode().IsRegular() {
		return ProjectContext{}, fmt.Errorf("%s is not a regular file", dockerfile)
	}
	var paths []string
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return ProjectContext{}, fmt.Errorf("reading the build context %s: %w", root.Name(), err)
	}
	slices.Sort(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		if err := addContextEntry(tw, root, p); err != nil {
			return ProjectContext{}, err
		}
		if buf.Len() > MaxProjectContext {
			return ProjectContext{}, &ContextTooLargeError{Dir: root.Name()}
		}
	}
	if err := tw.Close(); err != nil {
		return ProjectContext{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return ProjectContext{Tar: buf.Bytes(), Dockerfile: dockerfile, Digest: hex.EncodeToString(sum[:])}, nil
}

// addContextEntry packs p, a slash path below root, without following a
// link.
func addContextEntry(tw *tar.Writer, root *os.Root, p string) error {
	fi, err := root.Lstat(p)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: p, Mode: int64(fi.Mode().Perm()), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	switch {
	case fi.Mode().IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	case fi.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := root.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	default:
		return nil // a socket, FIFO or device: nothing a build can use
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	// O_NOFOLLOW and O_NONBLOCK: the file was a regular file when looked
	// at; if it is a link or a FIFO now, fail rather than follow or wait.
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("reading %s for the build context: %w", p, err)
	}
	defer f.Close()
	if now, err := f.Stat(); err != nil || !now.Mode().IsRegular() {
		return fmt.Errorf("reading %s for the build context: it changed while it was packed", p)
	}
	n, err := io.Copy(tw, io.LimitReader(f, hdr.Size))
	if err == nil && n != hdr.Size {
		err = errors.New("it changed while it was packed")
	}
	if err != nil {
		return fmt.Errorf("reading %s for the build context: %w", p, err)
	}
	return nil
}

// EnsureProject returns the project base image built from pc, building it
// only when no image with its digest exists (or when Rebuild is set). The
// image carries opts.Labels.
func EnsureProject(ctx context.Context, eng Engine, pc ProjectContext, opts Options) (Result, error) {
	res := Result{Tag: ProjectRepository + ":" + pc.Digest[:20], Hash: pc.Digest, project: &pc}
	return ensureTagged(ctx, eng, res, opts)
}
