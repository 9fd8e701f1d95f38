package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/moatsh/moat/internal/deps"
)

// Docker holds the options of agent.yaml's docker section, which tune the
// Docker mode chosen in dependencies.
type Docker struct {
	// Cache keeps a docker:dind daemon's state (images, build cache) in a
	// volume per workspace, so the next run starts with it.
	Cache bool
	// ReadyTimeout bounds how long a docker:dind daemon may take to
	// start; 0 means the default.
	ReadyTimeout time.Duration
	// Install says where Docker's packages come from: "debian" (the
	// default, "" here) or "docker" (Docker's own apt repository).
	Install string
	// HostBypassesEgress acknowledges that docker:host lets the agent
	// escape the network policy and reach the proxy's credentials through
	// the host's engine; without it, docker:host needs network.policy
	// permissive and no grants.
	HostBypassesEgress bool
	// NoBuildkit turns off the BuildKit sidecar a docker:dind run gets
	// (docker.buildkit: false). Its image is the user's choice
	// (config.yaml's buildkit_image), never agent.yaml's.
	NoBuildkit bool
	// InsecureRegistries are registries ("host:port") the run's inner
	// daemon and BuildKit sidecar reach over plain HTTP.
	InsecureRegistries []string
}

// IsZero reports whether no docker option is set.
func (d Docker) IsZero() bool {
	return d.Cache == false && d.ReadyTimeout == 0 && d.Install == "" && !d.HostBypassesEgress &&
		!d.NoBuildkit && len(d.InsecureRegistries) == 0
}

// WithSource gives a resolved dependency set's Docker packages the source
// docker.install names (the default's when unset).
func (d Docker) WithSource(set []deps.Dep) []deps.Dep {
	if d.Install == "" {
		return set
	}
	return deps.WithDockerSource(set, deps.DockerSource(d.Install))
}

// Docker package sources for docker.install.
var dockerInstallSources = []string{"debian", "docker"}

// maxReadyTimeout keeps a typo (3000s) from hanging a run for an hour.
const maxReadyTimeout = 10 * time.Minute

var dockerFields = []string{"buildkit", "cache", "host_bypasses_egress", "insecure_registries", "install", "ready_timeout"}

func (d *decoder) docker(at ast.Node, c *Config) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	kvs, ok := pairs(n)
	if !ok {
		return d.errorf(at, "Write it as a mapping, e.g. docker: {cache: true}.",
			"docker: expected a mapping of options, got %s", kind(n))
	}
	seen := map[string]string{}
	for _, kv := range kvs {
		if err := d.dockerOption(kv, &c.Docker, seen); err != nil {
			return err
		}
	}
	d.dockerNode = at
	return nil
}

func (d *decoder) dockerOption(kv *ast.MappingValueNode, o *Docker, seen map[string]string) error {
	k, err := d.key(kv.Key, "docker option")
	if err != nil {
		return err
	}
	if first, dup := seen[k]; dup {
		return d.errorf(kv.Key, "Remove one of them.", "duplicate docker option %q%s", k, firstAt(first))
	}
	seen[k] = posString(kv.Key)
	switch k {
	case "cache":
		o.Cache, err = d.boolean(kv.Value, "docker.cache")
	case "ready_timeout":
		o.ReadyTimeout, err = d.duration(kv.Value, "docker.ready_timeout")
	case "buildkit":
		var on bool
		on, err = d.boolean(kv.Value, "docker.buildkit")
		o.NoBuildkit = !on
	case "buildkit_image":
		// The sidecar runs with SYS_ADMIN: the workspace (which the agent
		// writes) must not choose what runs there.
		return d.errorf(kv.Key, "Remove it from agent.yaml, and set buildkit_image in ~/.moat/config.yaml (pinned by digest or image ID) if you need another image.",
			"docker.buildkit_image: the BuildKit sidecar's image is set only in your own configuration, not in agent.yaml")
	case "insecure_registries":
		var nodes []ast.Node
		o.InsecureRegistries, nodes, err = d.strList(kv.Value, "docker.insecure_registries", writeAsList("docker.insecure_registries"))
		for i, r := range o.InsecureRegistries {
			if err == nil && !registryPattern().MatchString(r) {
				err = d.errorf(nodes[i], `Write a registry's host and port, e.g. "registry.internal:5000".`,
					"docker.insecure_registries: %q is not a registry address", r)
			}
		}
	case "host_bypasses_egress":
		o.HostBypassesEgress, err = d.boolean(kv.Value, "docker.host_bypasses_egress")
	case "install":
		o.Install, err = d.oneOf(kv.Value, "docker.install", dockerInstallSources)
		if o.Install == "debian" {
			o.Install = ""
		}
	default:
		hint := "Valid docker options: " + strings.Join(dockerFields, ", ") + "."
		if s := suggest(k, dockerFields); s != "" {
			hint = fmt.Sprintf("Did you mean %q?", s)
		}
		return d.errorf(kv.Key, hint, "unknown docker option %q", k)
	}
	return err
}

// imageRef takes an image reference: a name with an optional tag or
// digest, in the characters references allow.
func (d *decoder) imageRef(at ast.Node, what string) (string, error) {
	s, err := d.str(at, what)
	if err != nil {
		return "", err
	}
	if !imageRefPattern().MatchString(s) {
		return "", d.errorf(at, `Write an image reference such as "moby/buildkit:v0.34.2" or "registry.example.com/buildkit@sha256:...".`,
			"%s: %q is not an image reference", what, s)
	}
	return s, nil
}

var registryPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?$`)
})

var imageRefPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
})

func (d *decoder) boolean(at ast.Node, what string) (bool, error) {
	n, err := d.resolve(at)
	if err != nil {
		return false, err
	}
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value, nil
	}
	return false, d.errorf(at, "Write true or false.", "%s: expected true or false, got %s", what, kind(n))
}

// oneOf takes a string that must be one of choices.
func (d *decoder) oneOf(at ast.Node, what string, choices []string) (string, error) {
	s, err := d.str(at, what)
	if err != nil {
		return "", err
	}
	if !slices.Contains(choices, s) {
		return "", d.errorf(at, "Use one of: "+strings.Join(choices, ", ")+".", "%s: unknown value %q", what, s)
	}
	return s, nil
}

// duration takes a Go duration string ("45s", "2m") or a number of seconds.
func (d *decoder) duration(at ast.Node, what string) (time.Duration, error) {
	n, err := d.resolve(at)
	if err != nil {
		return 0, err
	}
	hint := `Write a duration such as "45s" or "2m", or a number of seconds.`
	var v time.Duration
	switch t := n.(type) {
	case *ast.IntegerNode:
		secs, ok := t.Value.(uint64)
		if !ok {
			return 0, d.errorf(at, hint, "%s: expected a positive duration, got %s", what, t.GetToken().Value)
		}
		v = time.Duration(secs) * time.Second
	case *ast.StringNode:
		if v, err = time.ParseDuration(t.Value); err != nil {
			return 0, d.errorf(at, hint, "%s: invalid duration %q", what, t.Value)
		}
	default:
		return 0, d.errorf(at, hint, "%s: expected a duration, got %s", what, kind(n))
	}
	if v <= 0 || v > maxReadyTimeout {
		return 0, d.errorf(at, hint, "%s: %s is out of range: it must be more than 0 and at most %s", what, v, maxReadyTimeout)
	}
	return v, nil
}

// checkDocker relates the docker section to the dependencies: install
// needs a Docker mode, cache and ready_timeout need docker:dind.
func (d *decoder) checkDocker(c *Config) error {
	if d.dockerNode == nil {
		return nil
	}
	var mode deps.DockerMode
	for _, dep := range c.Dependencies {
		if dep.Method == deps.MethodDocker {
			mode = dep.Mode
		}
	}
	switch {
	case mode == "":
		return d.errorf(d.dockerNode, "Add docker:host or docker:dind to dependencies, or remove the docker section.",
			"docker: these options tune a Docker mode, and dependencies lists none")
	case mode != deps.DockerDind && (c.Docker.Cache || c.Docker.ReadyTimeout != 0 || c.Docker.NoBuildkit || len(c.Docker.InsecureRegistries) > 0):
		return d.errorf(d.dockerNode, "Use docker:dind, or remove cache, ready_timeout and the buildkit options.",
			"docker: cache, ready_timeout and the buildkit options are for docker:dind, and dependencies lists docker:%s", mode)
	case mode != deps.DockerHost && c.Docker.HostBypassesEgress:
		return d.errorf(d.dockerNode, "Remove host_bypasses_egress: docker:dind keeps the agent behind the proxy.",
			"docker: host_bypasses_egress is for docker:host, and dependencies lists docker:%s", mode)
	}
	return nil
}
