package config

import (
	"errors"
	"io/fs"
	"strings"
)

// GlobalFileName is the user's moat configuration in the moat home.
const GlobalFileName = "config.yaml"

// Global is the user's configuration ($MOAT_HOME/config.yaml): defaults for
// every run, which agent.yaml overrides.
type Global struct {
	// BuildkitImage is the BuildKit sidecar's image for docker:dind runs;
	// "" means moat's pinned default.
	BuildkitImage string
	// BaseImage is what run images are built on; "" means
	// debian:bookworm-slim. It must be Debian-based (moat installs with apt).
	BaseImage string
	// Limits are each run's limits and the most agent.yaml may ask for;
	// a zero field means moat's default.
	Limits Limits
	Path   string // the file it came from; "" when there was none
}

var globalFields = []string{"base_image", "buildkit_image", "limits"}

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
		return nil, d.errorf(body, "Write a mapping, e.g. buildkit_image: moby/buildkit:v0.34.2.",
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
			if g.BaseImage, err = d.imageRef(kv.Value, "base_image"); err != nil {
				return nil, err
			}
		case "buildkit_image":
			if g.BuildkitImage, err = d.imageRef(kv.Value, "buildkit_image"); err != nil {
				return nil, err
			}
		case "limits":
			if g.Limits, err = d.globalLimits(kv.Value); err != nil {
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
