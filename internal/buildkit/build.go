// Package buildkit owns moat's use of the BuildKit client: building run
// images through a BuildKit daemon where moat runs inside a run whose
// BUILDKIT_HOST names the run's sidecar, and loading them into the engine.
package buildkit

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/moatsh/moat/internal/runtime"
)

// HostEnv is the variable that names the BuildKit daemon to build with.
const HostEnv = "BUILDKIT_HOST"

// proxyArgs are passed to the build as build arguments when set, so that
// RUN steps (apt-get, pip) reach the network through the same proxy as
// the process that asked for the build, as the docker CLI does.
var proxyArgs = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

// Loader puts an image, as a docker-format tar stream, into an engine.
type Loader func(ctx context.Context, r io.Reader) error

// Build builds req with the BuildKit daemon at address: the Dockerfile
// frontend over the request's context (unpacked into a temporary
// directory), the docker exporter streamed straight into load, and the
// build's steps reported through onMsg in the engine's "Step i/n :" form.
func Build(ctx context.Context, address string, req runtime.BuildRequest, load Loader, onMsg func(runtime.BuildMessage)) error {
	dir, err := os.MkdirTemp("", "moat-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := untar(req.Context, dir); err != nil {
		return fmt.Errorf("unpacking the build context: %w", err)
	}
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return err
	}
	c, err := client.New(ctx, address)
	if err != nil {
		return fmt.Errorf("connecting to BuildKit at %s: %w", address, err)
	}
	defer c.Close()

	attrs := map[string]string{"filename": req.Dockerfile}
	for k, v := range req.Labels {
		attrs["label:"+k] = v
	}
	for _, k := range proxyArgs {
		if v, ok := os.LookupEnv(k); ok {
			attrs["build-arg:"+k] = v
		}
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	pr, pw := io.Pipe()
	opt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Exports: []client.ExportEntry{{
			Type:   client.ExporterDocker,
			Attrs:  map[string]string{"name": req.Tag},
			Output: func(map[string]string) (io.WriteCloser, error) { return pw, nil },
		}},
	}
	status := make(chan *client.SolveStatus)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := c.Solve(gctx, nil, opt, status)
		pw.CloseWithError(err) // the exporter closed it already on success
		return err
	})
	g.Go(func() error {
		err := load(gctx, pr)
		pr.CloseWithError(err)
		return err
	})
	g.Go(func() error {
		reportSteps(status, onMsg)
		return nil
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("building with BuildKit: %w", err)
	}
	return nil
}

// stepName matches the Dockerfile frontend's vertex names, such as
// "[2/5] RUN apt-get update".
var stepName = regexp.MustCompile(`^\[(?:[^ \]]+ )?(\d+)/(\d+)\] (.*)$`)

// reportSteps turns BuildKit's status into the engine's message form:
// "Step i/n : INSTRUCTION" once per step, then its output lines.
func reportSteps(status <-chan *client.SolveStatus, onMsg func(runtime.BuildMessage)) {
	seen := map[string]bool{}
	for s := range status {
		if onMsg == nil {
			continue
		}
		sort.Slice(s.Vertexes, func(i, j int) bool { return s.Vertexes[i].Name < s.Vertexes[j].Name })
		for _, v := range s.Vertexes {
			if m := stepName.FindStringSubmatch(v.Name); m != nil && !seen[v.Name] {
				seen[v.Name] = true
				onMsg(runtime.BuildMessage{Stream: fmt.Sprintf("Step %s/%s : %s\n", m[1], m[2], m[3])})
			}
			if v.Error != "" && !strings.Contains(v.Error, "context canceled") {
				onMsg(runtime.BuildMessage{Stream: v.Error + "\n"})
			}
		}
		for _, l := range s.Logs {
			onMsg(runtime.BuildMessage{Stream: string(l.Data)})
		}
	}
}

// untar unpacks a build context (regular files and directories only).
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if name == "." || strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("unsafe path %q in the build context", h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// Engine is the Docker engine adapter with its builds done by the BuildKit
// daemon at Address (moat inside a run, where BUILDKIT_HOST names the
// run's sidecar), the results loaded into the engine.
type Engine struct {
	*runtime.Docker
	Address string
}

// BuildImage builds through BuildKit and loads the image into the engine.
func (e *Engine) BuildImage(ctx context.Context, req runtime.BuildRequest, onMsg func(runtime.BuildMessage)) error {
	return Build(ctx, e.Address, req, e.Docker.LoadImage, onMsg)
}
