package config

import (
	"path"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// The run's base image, when agent.yaml names one: an image of the
// engine's (image:) or one moat builds from a Dockerfile in the workspace
// (dockerfile:). moat's dependencies and moat-init are layered on it as on
// config.yaml's base_image. Either needs approval: moat-init runs the
// image's programs as root when the container starts.

// image takes an image reference with a tag, a digest or an image ID.
func (d *decoder) image(n ast.Node, c *Config) error {
	s, err := d.taggedImageRef(n, "image")
	if err != nil {
		return err
	}
	if c.Dockerfile != "" {
		return d.errorf(n, "Keep one of them: image: for an image the engine has, dockerfile: for one moat builds.",
			"image and dockerfile both name the run's base image")
	}
	c.Image = s
	return nil
}

// dockerfile takes the path, relative to the workspace and inside it, of
// a Dockerfile; its directory is the build's context.
func (d *decoder) dockerfile(n ast.Node, c *Config) error {
	s, err := d.str(n, "dockerfile")
	if err != nil {
		return err
	}
	if p := checkDockerfilePath(s); p != nil {
		return d.errorAt(n, p)
	}
	if c.Image != "" {
		return d.errorf(n, "Keep one of them: image: for an image the engine has, dockerfile: for one moat builds.",
			"image and dockerfile both name the run's base image")
	}
	c.Dockerfile = path.Clean(s)
	return nil
}

const dockerfileHint = "Write the path of the Dockerfile relative to the workspace, such as .devcontainer/Dockerfile; its directory is the build's context."

func checkDockerfilePath(p string) *problem {
	clean := path.Clean(p)
	switch {
	case p == "":
		return newProblem(dockerfileHint, "dockerfile: the path is empty")
	case strings.ContainsRune(p, 0):
		return newProblem(nulHint, "dockerfile: the path contains a NUL byte")
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~"):
		return newProblem(dockerfileHint, "dockerfile %q: the path must be relative to the workspace", p)
	case clean == ".." || strings.HasPrefix(clean, "../"):
		return newProblem(dockerfileHint, "dockerfile %q: the path leaves the workspace", p)
	case clean == ".":
		return newProblem(dockerfileHint, "dockerfile %q: the path names the workspace, not a file", p)
	}
	return nil
}
