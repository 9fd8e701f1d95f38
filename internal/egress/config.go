package egress

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/policy"
)

// Config is what the proxy sidecar needs, sent by the CLI as one JSON
// document on the sidecar's stdin and never written to disk: secrets must
// not appear in the container's environment, command line or inspect
// output.
type Config struct {
	Token string `json:"token"` // per-run proxy password the agent's proxy URL carries
	// Socket is the unix socket the proxy listens on, in a directory
	// shared with the agent's container and nothing else: the agent has no
	// network, and reaches the proxy only through this socket.
	Socket string `json:"socket"`

	Policy Policy        `json:"policy"`
	Grants []GrantSecret `json:"grants,omitempty"`
	// SSH are the run's ssh grants, whose keys the proxy's SSH agent
	// signs with (SSHAgentPath), only for sessions bound to their hosts.
	SSH []SSHGrant `json:"ssh,omitempty"`
	// SSHAgent is the user's ssh-agent socket in the proxy's container,
	// for ssh grants whose key that agent keeps ("" when none does).
	SSHAgent string `json:"ssh_agent,omitempty"`
	// Placeholders are the fake credentials the agent holds (its grants'
	// variables, its login files' tokens): no request may carry one
	// upstream, except where the proxy replaces it with the credential.
	Placeholders []Placeholder `json:"placeholders,omitempty"`

	// CA is the run's own CA, which the user's CA certifies for a day:
	// the proxy mints its leaves from it and never sees the user's key.
	CA RunCA `json:"ca"`
	// UpstreamRoots are PEM roots trusted for upstream TLS besides the
	// image's own: the host's system bundle and network.ca.
	UpstreamRoots []byte `json:"upstream_roots,omitempty"`

	Audit *Audit `json:"audit,omitempty"` // nil records nothing (tests)
	// Log is where the proxy appends its own errors ("" means stderr):
	// kept with the run, since the engine removes the sidecar when it ends.
	Log string `json:"log,omitempty"`
	// AgentSeen is a file the proxy creates once a relay has handed over
	// the agent's port ("" creates none): without it the proxy cannot see
	// the agent's end, and the CLI stops it instead of waiting for it.
	AgentSeen string `json:"agent_seen,omitempty"`
	// Ports are the run's published ports: the proxy listens on each
	// host address and carries its connections to the port on the
	// agent's loopback, and nowhere else (ports.go).
	Ports []PublishedPort `json:"ports,omitempty"`
}

// PublishedPort is one published port: Host is the address the proxy
// listens on ("127.0.0.1:8080"), ContainerPort the port on the agent's
// loopback its connections go to.
type PublishedPort struct {
	Host          string `json:"host"`
	ContainerPort int    `json:"container_port"`
}

// Policy is the wire form of agent.yaml's network section: the mode with
// its default applied, the rules (canonical patterns, with their methods
// and paths) and each lower-case name with the address it maps to. The CLI
// makes it from config's typed values with PolicyFor; the sidecar decodes
// it once, at its process boundary (decode). That is the only parse of the
// section besides config's own.
type Policy struct {
	Mode  string            `json:"mode"`
	Allow []Allow           `json:"allow,omitempty"`
	Hosts map[string]string `json:"hosts,omitempty"`
	// Tunnel holds the canonical patterns of the tunnel-only hosts.
	Tunnel []string `json:"tunnel,omitempty"`
	// GitPush holds network.git-push as full ref patterns; nil sets no
	// push policy.
	GitPush []string `json:"git_push,omitempty"`
}

// Allow is one network.allow rule on the wire. It is an object, not the
// pattern alone, so that a sidecar that cannot read methods and paths
// fails to start instead of dropping them.
type Allow struct {
	Rule    string   `json:"rule"`
	Methods []string `json:"methods,omitempty"`
	Paths   []string `json:"paths,omitempty"`
	Line    int      `json:"line,omitempty"` // in agent.yaml, for denials
}

// PolicyFor is the wire form of n.
func PolicyFor(n config.Network) Policy {
	p := Policy{Mode: string(n.Mode()), GitPush: n.GitPush}
	for _, r := range n.Allow {
		if r.TunnelOnly {
			p.Tunnel = append(p.Tunnel, r.Rule.Pattern)
		}
		a := Allow{Rule: r.Rule.Pattern}
		if req := r.Rule.Requests; req != nil {
			a.Methods, a.Paths, a.Line = req.Methods, req.PathStrings(), req.Line
		}
		p.Allow = append(p.Allow, a)
	}
	if len(n.Hosts) > 0 {
		p.Hosts = make(map[string]string, len(n.Hosts))
		for _, h := range n.Hosts {
			p.Hosts[h.Host] = h.Addr.String()
		}
	}
	return p
}

// decode parses the wire form into the policy the proxy enforces. A
// pattern, method, path or address that does not parse here means the
// CLI and the sidecar disagree, and the proxy refuses to start.
func (p Policy) decode() (*policy.Policy, error) {
	patterns := make([]string, len(p.Allow))
	for i, a := range p.Allow {
		patterns[i] = a.Rule
	}
	pol, err := policy.New(policy.Mode(p.Mode), patterns, p.Hosts)
	if err != nil {
		return nil, err
	}
	for i, a := range p.Allow {
		if pol.Allow[i].Requests, err = policy.ParseRequests(a.Methods, a.Paths, a.Line); err != nil {
			return nil, fmt.Errorf("network.allow %s: %w", a.Rule, err)
		}
	}
	if err := pol.SetTunnelOnly(p.Tunnel); err != nil {
		return nil, err
	}
	return pol, nil
}

// refRules decodes the push policy, nil when there is none.
func (p Policy) refRules() (*policy.RefRules, error) {
	if p.GitPush == nil {
		return nil, nil
	}
	r := &policy.RefRules{}
	for _, s := range p.GitPush {
		full, err := policy.ParseRefPattern(s)
		if err != nil {
			return nil, err
		}
		r.Patterns = append(r.Patterns, full)
	}
	return r, nil
}

// Placeholder is one fake credential and what it stands for.
type Placeholder struct {
	Value string `json:"value"`
	What  string `json:"what"` // `ANTHROPIC_API_KEY (grant "anthropic")`
}

// GrantSecret is one grant and its secret, in the clear: it exists only
// in the CLI's memory, on the sidecar's stdin and in the proxy's memory.
type GrantSecret struct {
	Grant  grant.Grant `json:"grant"`
	Secret []byte      `json:"secret"`
}

// RunCA is a run's CA certificate and key, PEM-encoded (proxy.NewRunCA).
type RunCA struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// Audit says where the proxy records requests and with which key it signs
// checkpoints: the run's own key, which the user's key certifies in the
// log; the CLI signs the end of the log with the user's key.
type Audit struct {
	Path  string             `json:"path"`
	RunID string             `json:"run_id"`
	Key   ed25519.PrivateKey `json:"key"`
}

// maxConfigSize bounds what ReadConfig accepts.
const maxConfigSize = 16 << 20

// ReadConfig reads one Config from r, which the CLI closes after writing.
func ReadConfig(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the proxy configuration: %w", err)
	}
	if len(data) > maxConfigSize {
		return nil, errors.New("reading the proxy configuration: larger than 16 MiB")
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("reading the proxy configuration: %w", err)
	}
	clear(data)
	if c.Token == "" || c.Socket == "" {
		return nil, errors.New("proxy configuration: token and socket are required")
	}
	return &c, nil
}
