package kube

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moatsh/moat/internal/runtime"
)

// RegistryError reports that images cannot reach the cluster.
type RegistryError struct {
	Reason string
	Err    error // the push's error, if a push failed
}

func (e *RegistryError) Error() string { return "images for the cluster: " + e.Reason }
func (e *RegistryError) Unwrap() error { return e.Err }

// Hint says what to do about the push's failure if it knows (a login, a
// registry that fails), else how to name a registry.
func (e *RegistryError) Hint() string {
	var h interface{ Hint() string }
	if errors.As(e.Err, &h) {
		return h.Hint()
	}
	return "Set registry: in ~/.moat/config.yaml to a registry the cluster pulls from and this machine can push to\n" +
		"(for example 'registry: registry.example.com/moat'); 'docker login' to it if it needs credentials."
}

// imageBuilder is an image source that can build (moat's own image).
type imageBuilder interface {
	BuildImage(ctx context.Context, req runtime.BuildRequest, onMsg func(runtime.BuildMessage)) error
}

// repository is where moat's images go in the registry.
func (e *Engine) repository() (string, error) {
	if e.opts.Registry == "" {
		return "", &RegistryError{Reason: "no registry is set"}
	}
	if e.opts.Images == nil {
		return "", &RegistryError{Reason: "no local engine builds images"}
	}
	return strings.TrimSuffix(e.opts.Registry, "/") + "/moat", nil
}

// pushImage makes the local image ref pullable by the cluster and returns
// the reference, by digest, the pod names.
func (e *Engine) pushImage(ctx context.Context, ref string) (string, error) {
	repo, err := e.repository()
	if err != nil {
		return "", err
	}
	id, err := e.opts.Images.ImageID(ctx, ref)
	if err != nil {
		return "", err
	}
	pushed, err := e.opts.Images.PushImage(ctx, id, repo)
	if err != nil {
		return "", &RegistryError{Reason: fmt.Sprintf("pushing %s to %s: %v", ref, repo, err), Err: err}
	}
	return pushed, nil
}

// moatImageRepo is the local name of moat's own image: the sidecar binary
// alone, FROM scratch.
const moatImageRepo = "moat/sidecar"

// ensureMoatImage builds moat's own image (once per sidecar binary) and
// pushes it.
func (e *Engine) ensureMoatImage(ctx context.Context) (string, error) {
	if e.opts.SidecarBinary == "" {
		return "", errors.New("no moat-sidecar binary for the pods' moat image")
	}
	sum, err := e.sidecarSum()
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", e.opts.SidecarBinary, err)
	}
	tag := moatImageRepo + ":" + sum[:16]
	if _, err := e.opts.Images.ImageID(ctx, tag); errors.Is(err, runtime.ErrNotFound) {
		b, ok := e.opts.Images.(imageBuilder)
		if !ok {
			return "", &RegistryError{Reason: "the local engine cannot build moat's image"}
		}
		buildCtx, err := moatImageContext(e.opts.SidecarBinary)
		if err != nil {
			return "", err
		}
		var failed string
		err = b.BuildImage(ctx, runtime.BuildRequest{Context: buildCtx, Dockerfile: "Dockerfile", Tag: tag,
			Labels: map[string]string{"moat.managed": "true", "moat.role": "helper-image"}}, func(m runtime.BuildMessage) {
			if m.Error != "" {
				failed = m.Error
			}
		})
		if err == nil && failed != "" {
			err = errors.New(failed)
		}
		if err != nil {
			return "", fmt.Errorf("building moat's image for the cluster: %w", err)
		}
	} else if err != nil {
		return "", err
	}
	return e.pushImage(ctx, tag)
}

func moatImageContext(binary string) (io.Reader, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY moat-sidecar " + sidecarInImage + "\n")},
		{"moat-sidecar", 0o755, data},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}
