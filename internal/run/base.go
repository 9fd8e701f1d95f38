package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/trust"
)

// A run's base image is config.yaml's base_image unless agent.yaml names
// one: an image the engine has (image:), pinned by its ID when the run is
// planned, or one moat builds from a Dockerfile in the workspace
// (dockerfile:), identified by the digest of its context. Either is shown
// for approval with that ID or digest, so that a base changed later asks
// again. The proxy never runs on it: the proxy's image is config.yaml's.

// runBase is agent.yaml's base image, resolved.
type runBase struct {
	image   string // image: as written
	imageID string // its ID when the run was planned
	// dockerfile is dockerfile: as written, project its packed context.
	dockerfile string
	project    *image.ProjectContext
}

// permission is the base as approval pins it.
func (b *runBase) permission() string {
	if b.project != nil {
		return "dockerfile " + b.dockerfile + " sha256:" + b.project.Digest
	}
	return "image " + b.image + " " + b.imageID
}

// resolveBase finds agent.yaml's base image: the ID of the image it names,
// or the packed context of its Dockerfile. Nothing is built yet: approval
// comes first.
func (m *Manager) resolveBase(ctx context.Context, p *plan) error {
	switch {
	case p.cfg.Image != "":
		id, err := m.Engine.ImageID(ctx, p.cfg.Image)
		if errors.Is(err, runtime.ErrNotFound) {
			return &BaseImageError{File: configName(p), Image: p.cfg.Image}
		}
		if err != nil {
			return fmt.Errorf("%s: looking up the image %s: %w", configName(p), printable(p.cfg.Image), err)
		}
		p.base = &runBase{image: p.cfg.Image, imageID: id}
	case p.cfg.Dockerfile != "":
		pc, err := packDockerfile(p.workspace, p.cfg.Dockerfile)
		if err != nil {
			return &DockerfileError{File: configName(p), Dockerfile: p.cfg.Dockerfile, Err: err}
		}
		p.base = &runBase{dockerfile: p.cfg.Dockerfile, project: &pc}
	}
	return nil
}

// packDockerfile packs the context of the Dockerfile at rel in the
// workspace: its directory, opened inside the workspace (a link on the way
// may point only inside it).
func packDockerfile(ws, rel string) (image.ProjectContext, error) {
	wsRoot, err := os.OpenRoot(ws)
	if err != nil {
		return image.ProjectContext{}, err
	}
	defer wsRoot.Close()
	dir, err := wsRoot.OpenRoot(path.Dir(rel))
	if err != nil {
		return image.ProjectContext{}, err
	}
	defer dir.Close()
	return image.PackProjectContext(dir, path.Base(rel))
}

// BaseImageError reports an image: the engine does not have.
type BaseImageError struct{ File, Image string }

func (e *BaseImageError) Error() string {
	return fmt.Sprintf("%s: image %s is not in the engine", e.File, printable(e.Image))
}

func (e *BaseImageError) Hint() string {
	return fmt.Sprintf("Put the image %s into the engine first (pull, build or load it under that name): moat does not pull it. Or remove image: to use moat's base image.", e.Image)
}

// DockerfileError reports a dockerfile: moat cannot pack.
type DockerfileError struct {
	File, Dockerfile string
	Err              error
}

func (e *DockerfileError) Error() string {
	return fmt.Sprintf("%s: dockerfile %s: %v", e.File, printable(e.Dockerfile), e.Err)
}

func (e *DockerfileError) Unwrap() error { return e.Err }

func (e *DockerfileError) Hint() string {
	var large *image.ContextTooLargeError
	if errors.As(e.Err, &large) {
		return large.Hint()
	}
	return "Give the path, relative to the workspace, of a Dockerfile inside it; its directory is the build's context."
}

// addBase lists agent.yaml's base image for approval.
func addBase(sb *trust.Sandbox, b *runBase) {
	if b != nil {
		sb.Add(trust.Base, b.permission())
	}
}

// ensureBase returns the image the run's image is built on: agent.yaml's
// (a project's built first, if it is not there yet) or config.yaml's.
func (m *Manager) ensureBase(ctx context.Context, p *plan, rebuild bool) (string, error) {
	switch {
	case p.base == nil:
		return m.baseImage(), nil
	case p.base.project == nil:
		return p.base.imageID, nil
	}
	res, err := image.EnsureProject(ctx, m.Engine, *p.base.project, image.Options{
		Rebuild: rebuild,
		Labels:  map[string]string{labels.Managed: "true", labels.Role: labels.RoleImage, labels.Version: m.Version},
		OnEvent: m.OnBuild,
		Pins:    state.Pins{Store: m.Store},
		Lock:    m.Store.LockBuild,
	})
	if err != nil {
		return "", fmt.Errorf("%s: building dockerfile %s: %w", configName(p), printable(p.base.dockerfile), err)
	}
	return res.ID, nil
}
