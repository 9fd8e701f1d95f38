package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"

	"github.com/moatsh/moat/internal/policy"
)

// MCPServer is one entry of agent.yaml's mcp: an MCP server the agent's
// launcher configures the agent to use. A local server (Command) is
// started by the agent inside the container; a remote one (URL) is
// reached over HTTPS through the proxy, with Grant's credential injected
// when Grant is set.
type MCPServer struct {
	Name    string
	Command []string          // a local server's program and arguments
	Env     map[string]string // a local server's extra environment
	URL     *url.URL          // a remote server's endpoint (https)
	Grant   string            // the grant whose credential the proxy puts on URL's requests, or ""
	// Line and Col are where the entry starts, for errors found later
	// (a grant that does not cover the URL's host).
	Line, Col int
}

// Host is a remote server's host, with its port when it is not 443, as
// network.allow and grants write it.
func (s MCPServer) Host() string {
	if s.URL == nil {
		return ""
	}
	if p := s.URL.Port(); p != "" && p != "443" {
		return strings.ToLower(s.URL.Hostname()) + ":" + p
	}
	return strings.ToLower(s.URL.Hostname())
}

var mcpNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`) })

const mcpHint = "Write each server as a mapping: - {name: notes, command: [notes-server, --stdio]} for a local one, or - {name: docs, url: https://mcp.example.com/mcp, grant: docs} for a remote one."

func (d *decoder) mcp(at ast.Node, c *Config) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		return d.errorf(at, mcpHint, "mcp: expected a list of servers, got %s", kind(n))
	}
	seen := map[string]string{}
	for _, item := range seq.Values {
		s, err := d.mcpServer(item)
		if err != nil {
			return err
		}
		if first, dup := seen[s.Name]; dup {
			return d.errorf(item, "Give each server a name of its own.", "mcp: duplicate server name %q%s", s.Name, firstAt(first))
		}
		seen[s.Name] = posString(item)
		c.MCP = append(c.MCP, s)
	}
	return nil
}

func (d *decoder) mcpServer(at ast.Node) (MCPServer, error) {
	n, err := d.resolve(at)
	if err != nil {
		return MCPServer{}, err
	}
	kvs, ok := pairs(n)
	if !ok {
		return MCPServer{}, d.errorf(at, mcpHint, "mcp: expected a server (a mapping), got %s", kind(n))
	}
	s := MCPServer{}
	s.Line, s.Col = position(at)
	var nameNode, urlNode ast.Node
	seen := map[string]string{}
	for _, kv := range kvs {
		key, err := d.key(kv.Key, "mcp field")
		if err != nil {
			return MCPServer{}, err
		}
		if first, dup := seen[key]; dup {
			return MCPServer{}, d.errorf(kv.Key, "Remove one of them.", "mcp: duplicate field %q%s", key, firstAt(first))
		}
		seen[key] = posString(kv.Key)
		switch key {
		case "name":
			nameNode = kv.Value
			s.Name, err = d.str(kv.Value, "mcp name")
		case "command":
			var nodes []ast.Node
			s.Command, nodes, err = d.strList(kv.Value, "mcp command", commandHint)
			if err == nil {
				if i, p := checkCommand(s.Command); p != nil {
					at := kv.Value
					if i >= 0 {
						at = nodes[i]
					} else {
						p.hint = "Give the server's program and its arguments, e.g. command: [notes-server, --stdio]."
					}
					err = d.errorAt(at, p)
				}
			}
		case "env":
			err = d.mcpEnv(kv.Value, &s)
		case "url":
			urlNode = kv.Value
			var raw string
			if raw, err = d.str(kv.Value, "mcp url"); err == nil {
				s.URL, err = d.mcpURL(kv.Value, raw)
			}
		case "grant":
			if s.Grant, err = d.str(kv.Value, "mcp grant"); err == nil {
				if p := checkGrantName(s.Grant); p != nil {
					err = d.errorAt(kv.Value, p)
				}
			}
		default:
			err = d.errorf(kv.Key, "Valid fields of an mcp server: name, command, env, url, grant.", "mcp: unknown field %q", key)
		}
		if err != nil {
			return MCPServer{}, err
		}
	}
	return s, d.checkMCPServer(at, nameNode, urlNode, s)
}

func (d *decoder) mcpEnv(at ast.Node, s *MCPServer) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	kvs, ok := pairs(n)
	if !ok {
		return d.errorf(at, "Write one NAME: value pair per line under env:.", "mcp env: expected a mapping of names to strings, got %s", kind(n))
	}
	s.Env = make(map[string]string, len(kvs))
	seen := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if err := d.envVar(kv, s.Env, seen); err != nil {
			return err
		}
	}
	return nil
}

// checkMCPServer checks what an entry says as a whole.
func (d *decoder) checkMCPServer(at, nameNode, urlNode ast.Node, s MCPServer) error {
	switch {
	case nameNode == nil:
		return d.errorf(at, mcpHint, "mcp: a server needs a name")
	case !mcpNamePattern().MatchString(s.Name):
		return d.errorf(nameNode, "Use letters, digits, - and _ (at most 40), starting with a letter or digit.", "mcp: %q is not a server name", s.Name)
	case (s.Command == nil) == (s.URL == nil):
		return d.errorf(at, mcpHint, "mcp %s: give either command (a local server) or url (a remote one)", s.Name)
	case s.URL == nil && s.Grant != "":
		return d.errorf(at, "A local server runs in the container: give it no grant; the proxy injects credentials into its requests like any other.",
			"mcp %s: grant is for remote servers", s.Name)
	case s.URL != nil && s.Env != nil:
		return d.errorf(urlNode, "Remove env: it is for local servers.", "mcp %s: env is for local servers", s.Name)
	}
	return nil
}

// mcpURL parses a remote server's endpoint: https, a host name (the proxy
// decides by name), no credentials, which belong in a grant.
func (d *decoder) mcpURL(at ast.Node, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return nil, d.errorf(at, "Write the server's full https URL, e.g. https://mcp.example.com/mcp.", "mcp url %q: expected an https URL", raw)
	}
	if u.User != nil {
		return nil, d.errorf(at, "Store the credential with 'moat grant http NAME --host HOST --header Authorization' and name it in grant:.",
			"mcp url %q: credentials do not go in the URL", u.Redacted())
	}
	if u.Fragment != "" {
		return nil, d.errorf(at, "Remove the #fragment.", "mcp url %q: a fragment is not sent to the server", raw)
	}
	if _, err := policy.ParseRule(u.Host, policy.SourceAllow); err != nil {
		return nil, d.errorf(at, "Use the server's host name.", "mcp url %q: %v", raw, err)
	}
	if r, _ := policy.ParseRule(u.Host, policy.SourceAllow); r.Host == "" {
		return nil, d.errorf(at, "Use the server's host name; map it to an address with network.hosts if need be.",
			"mcp url %q: the proxy reaches servers by name, not address", raw)
	}
	return u, nil
}

// addMCPGrants adds each remote server's grant to the run's grants, after
// agent.yaml's own: naming a grant on a server asks for it, as grants: does.
func addMCPGrants(c *Config) {
	for _, s := range c.MCP {
		if s.Grant != "" && !slices.Contains(c.Grants, s.Grant) {
			c.Grants = append(c.Grants, s.Grant)
		}
	}
}
