package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/moatsh/moat/internal/policy"
)

// digestVersion is hashed first. Bump it only when the encoding below
// changes meaning; adding a field with omitempty does not need a bump.
const digestVersion = "moat.config.v1\n"

// digestForm is the normalised config that Digest hashes. Every field is
// omitempty, so a field added later leaves the digest of configs that do
// not use it unchanged. Env is a map: encoding/json sorts its keys.
type digestForm struct {
	Name         string            `json:"name,omitempty"`
	Dependencies []string          `json:"dependencies,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Mounts       []digestMount     `json:"mounts,omitempty"`
	Command      []string          `json:"command,omitempty"`
	Docker       *digestDocker     `json:"docker,omitempty"`
	Network      *digestNetwork    `json:"network,omitempty"`
	Grants       []string          `json:"grants,omitempty"`
	Resources    *Limits           `json:"resources,omitempty"`
	Agent        string            `json:"agent,omitempty"`
	MCP          []digestMCP       `json:"mcp,omitempty"`
	Image        string            `json:"image,omitempty"`
	Dockerfile   string            `json:"dockerfile,omitempty"`
	Ports        []string          `json:"ports,omitempty"`
}

type digestMCP struct {
	Name    string            `json:"name"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	URL     string            `json:"url,omitempty"`
	Grant   string            `json:"grant,omitempty"`
}

// digestNetwork is Network with policy strict, the default, written as "".
// An allow entry is its text, or a digestAllow when it has methods or
// paths: the digest of a file without them stays what it was.
type digestNetwork struct {
	Policy string            `json:"policy,omitempty"`
	Allow  []any             `json:"allow,omitempty"`
	Hosts  map[string]string `json:"hosts,omitempty"`
	CA     string            `json:"ca,omitempty"`
	Push   []string          `json:"git_push,omitempty"`
}

// digestAllow is a network.allow entry with methods or paths; read-only
// is hashed as the methods it stands for.
type digestAllow struct {
	Host       string   `json:"host"`
	Methods    []string `json:"methods,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	TunnelOnly bool     `json:"tunnel_only,omitempty"`
}

type digestDocker struct {
	Cache        bool     `json:"cache,omitempty"`
	ReadyTimeout int64    `json:"ready_timeout_ms,omitempty"`
	Install      string   `json:"install,omitempty"`
	HostBypass   bool     `json:"host_bypasses_egress,omitempty"`
	NoBuildkit   bool     `json:"no_buildkit,omitempty"`
	Insecure     []string `json:"insecure_registries,omitempty"`
}

type digestMount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"ro,omitempty"`
}

// Digest returns the hex sha256 of the normalised config, for audit
// records. It ignores Path and formatting: two files that decode to the same
// Config have the same digest. A nil Config digests as an empty one.
// Parse only accepts UTF-8; in a Config built in code, invalid UTF-8 is
// replaced by U+FFFD before hashing.
func (c *Config) Digest() string {
	var f digestForm
	if c != nil {
		f = digestForm{Name: c.Name, Dependencies: c.DependencySpecs, Env: c.Env, Command: c.Command,
			Network: networkDigest(c.Network), Grants: c.Grants, Agent: c.Agent,
			Image: c.Image, Dockerfile: c.Dockerfile}
		for _, m := range c.MCP {
			d := digestMCP{Name: m.Name, Command: m.Command, Env: m.Env, Grant: m.Grant}
			if m.URL != nil {
				d.URL = m.URL.String()
			}
			f.MCP = append(f.MCP, d)
		}
		for _, m := range c.Mounts {
			f.Mounts = append(f.Mounts, digestMount(m))
		}
		for _, p := range c.Ports {
			f.Ports = append(f.Ports, p.String())
		}
		if c.Resources.Limits != (Limits{}) {
			f.Resources = &c.Resources.Limits
		}
		if !c.Docker.IsZero() {
			f.Docker = &digestDocker{Cache: c.Docker.Cache, ReadyTimeout: c.Docker.ReadyTimeout.Milliseconds(), Install: c.Docker.Install, HostBypass: c.Docker.HostBypassesEgress,
				NoBuildkit: c.Docker.NoBuildkit, Insecure: c.Docker.InsecureRegistries}
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		panic("config: encoding digest: " + err.Error()) // strings and bools always encode
	}
	sum := sha256.Sum256(append([]byte(digestVersion), b...))
	return hex.EncodeToString(sum[:])
}

// networkDigest returns the digest form of n, or nil when n asks for nothing
// beyond the default. Rules and mappings are hashed as written, as they
// always were: the digest of an unchanged agent.yaml must not change.
func networkDigest(n Network) *digestNetwork {
	d := &digestNetwork{Policy: string(n.Policy), CA: n.CA}
	if d.Policy == string(policy.Strict) {
		d.Policy = ""
	}
	if n.Allow != nil {
		d.Allow = make([]any, len(n.Allow))
		for i, r := range n.Allow {
			d.Allow[i] = r.Text
			if r.TunnelOnly {
				d.Allow[i] = digestAllow{Host: r.Text, TunnelOnly: true}
			}
			if req := r.Rule.Requests; req != nil {
				d.Allow[i] = digestAllow{Host: r.Text, Methods: req.Methods, Paths: req.PathStrings()}
			}
		}
	}
	if n.Hosts != nil {
		d.Hosts = make(map[string]string, len(n.Hosts))
		for _, h := range n.Hosts {
			d.Hosts[h.Name] = h.Address
		}
	}
	d.Push = n.GitPush
	if d.Policy == "" && len(d.Allow) == 0 && len(d.Hosts) == 0 && d.CA == "" && len(d.Push) == 0 {
		return nil
	}
	return d
}
