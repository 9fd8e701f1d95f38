package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
)

// GlobalFileName is the user's moat configuration in the moat home.
const GlobalFileName = "config.yaml"

// Global is the user's configuration ($MOAT_HOME/config.yaml): defaults for
// every run, which agent.yaml overrides.
type Global struct {
	// BuildkitImage is the BuildKit sidecar's image for docker:dind runs,
	// pinned: "name@sha256:<digest>" or an image ID "sha256:<id>"; ""
	// means moat's pinned default.
	BuildkitImage string
	// BaseImage is what run images are built on; "" means
	// debian:bookworm-slim. It must be Debian-based (moat installs with apt)
	// and name a tag, a digest or an image ID: never an implied latest.
	BaseImage string
	// Limits are each run's limits and the most agent.yaml may ask for;
	// a zero field means moat's default.
	Limits Limits
	// NPMRegistry and PipIndex are the mirrors image builds download npm
	// packages (agent CLIs included) and pip packages from; "" means the
	// public registries.
	NPMRegistry string
	PipIndex    string
	// Runtime is where runs go: RuntimeDocker (also when "") or
	// RuntimeKubernetes; 'moat run --runtime' overrides it.
	Runtime string
	// Registry is where images for a cluster are pushed and its pods pull
	// them from: HOST[:PORT][/PATH], no scheme, no tag.
	Registry string
	// Kubernetes selects the cluster of the Kubernetes runtime.
	Kubernetes Kubernetes
	// Router is where 'moat router' serves, and whether runs that
	// publish ports start it.
	Router Router
	Path   string // the file it came from; "" when there was none
}

// The runtimes a run can use.
const (
	RuntimeDocker     = "docker"
	RuntimeKubernetes = "kubernetes"
)

// Runtimes are the valid values of runtime: (and of 'moat run --runtime').
var Runtimes = []string{RuntimeDocker, RuntimeKubernetes}

var globalFields = []string{"base_image", "buildkit_image", "kubernetes", "limits", "npm_registry", "pip_index", "registry", "router", "runtime"}

// LoadGlobal reads the user's configuration. A missing file is an empty
// configuration.
func LoadGlobal(path string) (*Global, error) {
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Global{}, nil
	}
	if err != nil {
		return nil, err
	}
	d, body, err := parseDocument(path, data)
	if err != nil {
		return nil, err
	}
	g := &Global{Path: path}
	n, err := d.resolve(body)
	if err != nil || isNull(n) {
		return g, err
	}
	kvs, ok := pairs(n)
	if !ok {
		return nil, d.errorf(body, "Write a mapping, e.g. base_image: debian:bookworm-slim.",
			"expected a mapping of settings at the top level, got %s", kind(n))
	}
	seen := map[string]string{}
	for _, kv := range kvs {
		k, err := d.key(kv.Key, "setting")
		if err != nil {
			return nil, err
		}
		if first, dup := seen[k]; dup {
			return nil, d.errorf(kv.Key, "Remove one of them.", "duplicate setting %q%s", k, firstAt(first))
		}
		seen[k] = posString(kv.Key)
		switch k {
		case "base_image":
			if g.BaseImage, err = d.taggedImageRef(kv.Value, "base_image"); err != nil {
				return nil, err
			}
		case "buildkit_image":
			if g.BuildkitImage, err = d.pinnedImageRef(kv.Value, "buildkit_image"); err != nil {
				return nil, err
			}
		case "limits":
			if g.Limits, err = d.globalLimits(kv.Value); err != nil {
				return nil, err
			}
		case "npm_registry":
			if g.NPMRegistry, err = d.mirrorURL(kv.Value, k, "https://npm.example.com/"); err != nil {
				return nil, err
			}
		case "pip_index":
			if g.PipIndex, err = d.mirrorURL(kv.Value, k, "https://pypi.example.com/simple"); err != nil {
				return nil, err
			}
		case "runtime":
			if g.Runtime, err = d.oneOf(kv.Value, k, Runtimes); err != nil {
				return nil, err
			}
		case "registry":
			if g.Registry, err = d.pushRegistry(kv.Value, k); err != nil {
				return nil, err
			}
		case "kubernetes":
			if g.Kubernetes, err = d.kubernetes(kv.Value); err != nil {
				return nil, err
			}
		case "router":
			if g.Router, err = d.router(kv.Value); err != nil {
				return nil, err
			}
		default:
			hint := "Valid settings: " + strings.Join(globalFields, ", ") + "."
			if s := suggest(k, globalFields); s != "" {
				hint = "Did you mean \"" + s + "\"?"
			}
			return nil, d.errorf(kv.Key, hint, "unknown setting %q", k)
		}
	}
	return g, nil
}

// PinnedImage reports whether ref names one image for good: an image ID
// ("sha256:<id>") or a reference with a digest ("name@sha256:<digest>").
// Whoever controls the engine or a registry can move a tag, not these.
func PinnedImage(ref string) bool {
	return imageIDPattern().MatchString(ref) || strings.Contains(ref, "@sha256:")
}

var imageIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[a-f0-9]{64}$`) })

// pinnedImageRef takes an image reference pinned by digest or image ID.
func (d *decoder) pinnedImageRef(at ast.Node, what string) (string, error) {
	s, err := d.imageOrID(at, what)
	if err == nil && !PinnedImage(s) {
		err = d.errorf(at, `Pin it by digest ("moby/buildkit:v0.34.2@sha256:...", see 'docker images --digests') or by image ID ("sha256:...", see 'docker images --no-trunc').`,
			"%s: %q is not pinned: the BuildKit sidecar runs with extra privileges, and a tag can be moved", what, s)
	}
	return s, err
}

// taggedImageRef takes an image reference with a tag, a digest or an
// image ID: an untagged name would silently mean latest.
func (d *decoder) taggedImageRef(at ast.Node, what string) (string, error) {
	s, err := d.imageOrID(at, what)
	if err == nil && !PinnedImage(s) && !strings.Contains(s[strings.LastIndex(s, "/")+1:], ":") {
		err = d.errorf(at, `Name a tag, e.g. "debian:bookworm-slim", a digest or an image ID.`,
			"%s: %q has no tag, and moat never assumes latest", what, s)
	}
	return s, err
}

func (d *decoder) imageOrID(at ast.Node, what string) (string, error) {
	if n, err := d.resolve(at); err == nil {
		if sn, ok := n.(*ast.StringNode); ok && imageIDPattern().MatchString(sn.Value) {
			return sn.Value, nil
		}
	}
	return d.imageRef(at, what)
}

// mirrorURL takes a package mirror's URL: http or https, a host, no
// credentials (the URL is written into the image's build recipe, which
// anyone with the image can read), and only characters a build recipe
// can hold unquoted.
func (d *decoder) mirrorURL(at ast.Node, what, example string) (string, error) {
	s, err := d.str(at, what)
	if err != nil {
		return "", err
	}
	u, perr := url.Parse(s)
	switch {
	case perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.RawQuery != "" || u.Fragment != "" || !mirrorURLPattern().MatchString(s):
		return "", d.errorf(at, fmt.Sprintf("Write an http or https URL such as %q.", example),
			"%s: %q is not a mirror URL", what, s)
	case u.User != nil:
		return "", d.errorf(at, "Remove the credentials, and let the mirror allow the machine's builds without them.",
			"%s: %q holds credentials, which would be stored in every image built from it", what, u.Redacted())
	}
	return s, nil
}

var mirrorURLPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^https?://[A-Za-z0-9.:\[\]@_-]+(/[A-Za-z0-9._~/+-]*)?$`)
})
