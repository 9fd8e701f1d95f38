package kube

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"

	"github.com/moatsh/moat/internal/podfs"
)

// copyIn copies the run's host directories into the pod's volumes while
// its setup container waits, and runs beforeStart (if any) alongside, then
// lets the setup finish: the main container starts with them in place.
func (e *Engine) copyIn(ctx context.Context, plan *podPlan, beforeStart func() error) error {
	if !plan.setup {
		return nil
	}
	if _, err := e.waitContainer(ctx, plan.id, func(p *corev1.Pod) (bool, error) {
		st := containerStatus(p, setupContainer)
		return st != nil && st.State.Running != nil, stuck(p, setupContainer)
	}); err != nil {
		return fmt.Errorf("waiting for pod %s to start: %w", plan.id.Pod, err)
	}
	var g errgroup.Group
	if beforeStart != nil {
		g.Go(beforeStart)
	}
	for _, d := range plan.dirs {
		if d.Empty {
			continue
		}
		g.Go(func() error {
			if err := e.copyDirIn(ctx, plan.id, d); err != nil {
				return fmt.Errorf("copying %s into pod %s: %w", d.Source, plan.id.Pod, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := e.exec(ctx, plan.id, setupContainer, []string{sidecarInImage, "kube", "done", setupDone}, nil, io.Discard); err != nil {
		return fmt.Errorf("starting pod %s: %w", plan.id.Pod, err)
	}
	return nil
}

// hasContent reports whether dir holds anything but directories (a
// regular file, a link, ...): an empty tree needs no copy. What cannot be
// read counts as content, so that the copy reports it.
func hasContent(dir string) bool {
	found := errors.New("found")
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return found
		}
		return nil
	})
	return err != nil
}

func (e *Engine) copyDirIn(ctx context.Context, id ID, d hostDir) error {
	fi, err := os.Stat(d.Source)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		if fi.IsDir() {
			pw.CloseWithError(podfs.Pack(pw, d.Source))
		} else {
			pw.CloseWithError(packFile(pw, d.Source, fi))
		}
	}()
	args := []string{sidecarInImage, "kube", "tar-in", path.Join(dirsRoot, d.Volume), "--keep-owners"}
	err = e.exec(ctx, id, setupContainer, args, pr, io.Discard)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

// packFile writes a tar holding the file at src as fileKey.
func packFile(w io.Writer, src string, fi os.FileInfo) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	hdr.Name = fileKey
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	return tw.Close()
}

// copyOut copies what the run changed back to the host, once: its
// writable mounts mirrored (what the agent removed is removed), its
// shared directories added to. What comes out of the pod is the agent's
// to shape: podfs.Unpack writes nothing outside the source. Where it goes
// is the pod's signed record (podDirs): a record that is not this moat
// home's is a *RecordChangedError, and nothing is copied.
// keeperStartWait bounds the wait for a keeper the kubelet has not started
// yet (a loaded node can take long to start a container).
const keeperStartWait = 2 * time.Minute

// waitKeeper waits for pod id's keeper to run; it fails at once if the
// keeper has ended.
func (e *Engine) waitKeeper(ctx context.Context, id ID) error {
	ctx, cancel := context.WithTimeout(ctx, keeperStartWait)
	defer cancel()
	_, err := e.waitContainer(ctx, id, func(p *corev1.Pod) (bool, error) {
		st := containerStatus(p, keeperContainer)
		if st != nil && st.State.Terminated != nil {
			return false, fmt.Errorf("it ended: %s", st.State.Terminated.Reason)
		}
		return st != nil && st.State.Running != nil, nil
	})
	return err
}

func (e *Engine) copyOut(ctx context.Context, pod *corev1.Pod) error {
	dirs, err := podDirs(e.opts.AnnotationKey, pod)
	if err != nil {
		return err
	}
	if pod.Annotations[annoCopied] == "true" {
		return nil
	}
	id := ID{Context: e.context, Namespace: pod.Namespace, Pod: pod.Name}
	if st := containerStatus(pod, keeperContainer); st == nil || st.State.Running == nil {
		if len(writable(dirs)) == 0 {
			return nil
		}
		err := errors.New("it ended")
		if st == nil || st.State.Terminated == nil {
			// Not started yet: the kubelet starts it first, but a loaded
			// node may still be starting it.
			err = e.waitKeeper(ctx, id)
		}
		if err != nil {
			return fmt.Errorf("pod %s: its keeper container does not run (%v), so the run's directories cannot be copied back; the pod is kept", pod.Name, err)
		}
	}
	var errs []error
	for _, d := range writable(dirs) {
		if err := e.copyDirOut(ctx, id, d); err != nil {
			errs = append(errs, fmt.Errorf("copying %s back from pod %s: %w", d.Source, pod.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return e.markCopied(ctx, id)
}

func writable(dirs []hostDir) []hostDir {
	var out []hostDir
	for _, d := range dirs {
		if !d.ReadOnly {
			out = append(out, d)
		}
	}
	return out
}

func (e *Engine) copyDirOut(ctx context.Context, id ID, d hostDir) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		if d.File {
			done <- unpackFile(pr, d.Source)
		} else {
			done <- podfs.Unpack(pr, d.Source, podfs.UnpackOptions{Mirror: !d.Shared, Owner: hostOwner(d.Source)})
		}
		pr.CloseWithError(io.ErrClosedPipe)
	}()
	err := e.exec(ctx, id, keeperContainer, []string{sidecarInImage, "kube", "tar-out", path.Join(dirsRoot, d.Volume)}, nil, pw)
	pw.CloseWithError(err)
	if uerr := <-done; uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// hostOwner is who what comes back belongs to: as on Docker, where the
// agent writes as the workspace's owner, the owner of the directory it
// comes back to. moat running as a user writes as that user (nil).
func hostOwner(dir string) *podfs.Owner {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return &podfs.Owner{UID: int(st.Uid), GID: int(st.Gid)}
}

// unpackFile takes the one file, fileKey, of a tar and puts it at dst by
// rename (never writing through a link at dst).
func unpackFile(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("the pod's copy of %s is missing", dst)
		}
		if err != nil {
			return err
		}
		if hdr.Name != fileKey || hdr.Typeflag != tar.TypeReg {
			continue
		}
		tmp, err := os.CreateTemp(filepath.Dir(dst), ".moat-copy-*")
		if err != nil {
			return err
		}
		_, err = io.Copy(tmp, io.LimitReader(tr, podfs.DefaultMaxBytes))
		if err == nil {
			err = tmp.Chmod(os.FileMode(hdr.Mode) & 0o777)
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), dst)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
		io.Copy(io.Discard, tr)
		return err
	}
}
