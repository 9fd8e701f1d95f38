// Package trust owns what a user approved a workspace's agent.yaml to give
// its agent: the sandbox a config asks for, as a set of permissions that
// can be compared (Sandbox), the record of the approved set per workspace
// under $MOAT_HOME/trust, and the comparison that finds what a config adds
// beyond that record, each addition worded as what the agent could then do.
//
// agent.yaml lives in the workspace, which the agent writes: its contents
// are a request, never an authority. Only additions need approval; a config
// that asks for less than was approved runs unchanged.
package trust

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moatsh/moat/internal/termtext"
)

// Kind is what a permission gives.
type Kind string

const (
	// Network: the run has a network through its proxy (strict and
	// permissive policies); AnyHost: it reaches every public host
	// (permissive).
	Network Kind = "network"
	AnyHost Kind = "any-host"
	Allow   Kind = "allow" // a network.allow rule, every request to its host
	// Request is a network.allow rule with methods or paths: one method
	// on the paths of one pattern, "host METHOD PATH", where METHOD "*" is
	// any method and PATH "/**" any path.
	Request Kind = "request"
	Host    Kind = "host"   // a network.hosts mapping, "name=address"
	CA      Kind = "ca"     // network.ca, "path sha256:digest"
	Grant   Kind = "grant"  // a grant by name
	Read    Kind = "read"   // a host path the agent reads, "source:target"
	Write   Kind = "write"  // a host path the agent writes, "source:target"
	Env     Kind = "env"    // an environment variable, "NAME=value"
	Docker  Kind = "docker" // a Docker mode: "host" or "dind"
	Option  Kind = "option" // a docker section setting that widens, "name" or "name=value"
	// Package is a dependency whose installation runs its own code (npm
	// lifecycle scripts, a pip source package's setup.py) during the image
	// build, as root with the engine's network: "npm:name@version".
	Package Kind = "package"
	// Tunnel is a network.allow host declared tunnel-only: nothing in its
	// TLS is checked.
	Tunnel Kind = "tunnel-only"
	// Base is the run's base image named by agent.yaml: "image REF ID" or
	// "dockerfile PATH sha256:DIGEST" (its context's digest). moat-init runs
	// the image's programs as root when the container starts, and a
	// Dockerfile's steps run as root in the build with the engine's network.
	Base Kind = "base-image"
	// Publish is a port published on a host address other than
	// loopback, "HOST_IP:HOST_PORT:PORT": other machines could connect to
	// the agent's server.
	Publish Kind = "publish"
	// Push is a network.git-push ref pattern. Unlike the others it narrows:
	// without any, a push may update any ref (see Widening).
	Push Kind = "git-push"
)

// AnyRef is the Push value Widening reports when a config drops
// network.git-push that an approved one had.
const AnyRef = "*"

// Permission is one thing a config gives the agent. Value is canonical for
// its kind, so two equal permissions compare equal.
type Permission struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// Sandbox is everything a workspace's config gives its agent beyond the
// default sandbox (strict policy, no grants, no mounts but the workspace),
// plus context for wording it.
type Sandbox struct {
	Permissions []Permission
	// GrantHosts maps a grant's name to the hosts its credential is
	// injected for, to word host mappings and CAs that reach them.
	GrantHosts map[string][]string
	// SSHGrants are the grants that are ssh keys: their hosts get SSH
	// sessions signed with the key, not a credential in requests.
	SSHGrants map[string]bool
}

// Default is what a workspace without agent.yaml gets: a network through
// the proxy under the strict policy. Nothing in it needs approval.
var Default = []Permission{{Kind: Network}}

// Add adds a permission once.
func (s *Sandbox) Add(kind Kind, value string) {
	p := Permission{Kind: kind, Value: value}
	if !slices.Contains(s.Permissions, p) {
		s.Permissions = append(s.Permissions, p)
	}
}

// Sorted returns the permissions in a stable order: by kind as listed
// above, then by value.
func Sorted(ps []Permission) []Permission {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b Permission) int {
		if c := kindRank(a.Kind) - kindRank(b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return slices.Compact(out)
}

var kindOrder = []Kind{Grant, Read, Write, Base, Network, AnyHost, Allow, Request, Tunnel, Host, CA, Push, Publish, Docker, Option, Package, Env}

func kindRank(k Kind) int {
	if i := slices.Index(kindOrder, k); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// Widening returns the permissions of want that approved does not hold,
// in Sorted order. Everything else in want is already approved or part of
// the default sandbox. A Request is also held by an approved Allow of the
// same host, or an approved Request of the same host whose method is "*"
// or the same and whose path is "/**" or the same: narrowing a rule to
// some methods or paths needs no new approval, widening one does.
//
// Push patterns narrow instead: an approval without any let pushes update
// every ref, so any patterns are within it; an approval with some is
// widened by a pattern it lacks, or by dropping them all (AnyRef).
func Widening(approved, want []Permission) []Permission {
	var out []Permission
	for _, p := range want {
		if p.Kind != Push && !slices.Contains(approved, p) && !slices.Contains(Default, p) && !requestHeld(approved, p) {
			out = append(out, p)
		}
	}
	had, has := ofKind(approved, Push), ofKind(want, Push)
	switch {
	case len(had) == 0:
	case len(has) == 0:
		out = append(out, Permission{Kind: Push, Value: AnyRef})
	default:
		for _, p := range has {
			if !slices.Contains(had, p) {
				out = append(out, p)
			}
		}
	}
	return Sorted(out)
}

// RequestValue is the value of a Request permission; method "" is any
// method, path "" any path.
func RequestValue(host, method, path string) string {
	if method == "" {
		method = "*"
	}
	if path == "" {
		path = "/**"
	}
	return host + " " + method + " " + path
}

// splitRequest splits a Request value into host, method and path.
func splitRequest(value string) (host, method, path string) {
	host, rest, _ := strings.Cut(value, " ")
	method, path, _ = strings.Cut(rest, " ")
	return host, method, path
}

func requestHeld(approved []Permission, p Permission) bool {
	if p.Kind != Request {
		return false
	}
	host, method, path := splitRequest(p.Value)
	if slices.Contains(approved, Permission{Kind: Allow, Value: host}) {
		return true
	}
	for _, m := range []string{method, "*"} {
		for _, pa := range []string{path, "/**"} {
			if slices.Contains(approved, Permission{Kind: Request, Value: host + " " + m + " " + pa}) {
				return true
			}
		}
	}
	return false
}

func ofKind(ps []Permission, k Kind) []Permission {
	var out []Permission
	for _, p := range ps {
		if p.Kind == k {
			out = append(out, p)
		}
	}
	return out
}

// Describe words a permission as what the agent could do with it, for a
// user deciding whether to allow it. Values come from a file the agent can
// write: anything that is not printable is quoted.
func (s *Sandbox) Describe(p Permission) string {
	v := printable(p.Value)
	switch p.Kind {
	case Grant:
		if hosts := s.GrantHosts[p.Value]; len(hosts) > 0 && s.SSHGrants[p.Value] {
			return fmt.Sprintf("SSH sessions to %s could sign in with the key of grant %s", strings.Join(hosts, ", "), v)
		}
		if hosts := s.GrantHosts[p.Value]; len(hosts) > 0 {
			return fmt.Sprintf("requests to %s would carry the credential of grant %s", strings.Join(hosts, ", "), v)
		}
		return fmt.Sprintf("requests would carry the credential of grant %s", v)
	case Read, Write:
		src, target, _ := strings.Cut(p.Value, ":")
		verb := "read"
		if p.Kind == Write {
			verb = "read and change"
		}
		return fmt.Sprintf("the agent could %s %s (mounted at %s)", verb, printable(src), printable(target))
	case Network:
		return "the agent could reach the hosts network.allow and its grants name, through the proxy"
	case AnyHost:
		return "the agent could reach any public host (network.policy: permissive)"
	case Allow:
		return fmt.Sprintf("the agent could reach %s (network.allow)", v)
	case Request:
		host, method, path := splitRequest(p.Value)
		return describeRequest(host, method, []string{path})
	case Tunnel:
		return fmt.Sprintf("the agent's connections to %s would not be opened: nothing in them is checked (no placeholder guard, no request rules, no trace of the requests)", v)
	case Push:
		if p.Value == AnyRef {
			return "git pushes could update any branch or tag, and delete them (network.git-push was removed)"
		}
		return fmt.Sprintf("git pushes could update %s (network.git-push)", v)
	case Publish:
		return fmt.Sprintf("other machines could connect to the agent's server through %s (ports)", v)
	case Host:
		return s.describeHost(p.Value)
	case CA:
		return s.describeCA(p.Value)
	case Base:
		return describeBase(p.Value)
	case Env:
		name, val, _ := strings.Cut(p.Value, "=")
		return fmt.Sprintf("the agent's environment would set %s=%s", printable(name), printable(val))
	case Docker:
		return describeDocker(p.Value)
	case Option:
		return describeOption(p.Value)
	case Package:
		return fmt.Sprintf("the image build would install %s, running its install scripts as root with the engine's network, outside the run's policy", v)
	}
	return fmt.Sprintf("%s %s", printable(string(p.Kind)), v)
}

// DescribeAll words each permission of ps in Sorted order; read access to
// a mount goes without saying where write access is listed, and the paths
// of one method on one host make one line.
func (s *Sandbox) DescribeAll(ps []Permission) []string {
	var out []string
	sorted := Sorted(ps)
	for i := 0; i < len(sorted); i++ {
		p := sorted[i]
		if p.Kind == Read && slices.Contains(ps, Permission{Kind: Write, Value: p.Value}) {
			continue
		}
		if p.Kind != Request {
			out = append(out, s.Describe(p))
			continue
		}
		host, method, path := splitRequest(p.Value)
		paths := []string{path}
		for i+1 < len(sorted) && sorted[i+1].Kind == Request {
			h, m, pa := splitRequest(sorted[i+1].Value)
			if h != host || m != method {
				break
			}
			paths = append(paths, pa)
			i++
		}
		out = append(out, describeRequest(host, method, paths))
	}
	return out
}

// describeRequest words requests of one method (or "*") to host, on paths
// ("/**" for any).
func describeRequest(host, method string, paths []string) string {
	what := printable(method) + " requests"
	if method == "*" {
		what = "requests of any method"
	}
	out := fmt.Sprintf("the agent could send %s to %s", what, printable(host))
	if !slices.Contains(paths, "/**") {
		quoted := make([]string, len(paths))
		for i, p := range paths {
			quoted[i] = printable(p)
		}
		out += ", paths " + strings.Join(quoted, ", ")
	}
	return out + " (network.allow)"
}

// describeHost words a network.hosts mapping, calling out one that sends a
// grant's credential somewhere else.
func (s *Sandbox) describeHost(value string) string {
	name, addr, _ := strings.Cut(value, "=")
	if grants := s.grantsFor(name); len(grants) > 0 {
		return fmt.Sprintf("the credentials of grant %s would go to %s (network.hosts sends %s there)",
			strings.Join(grants, ", "), printable(addr), printable(name))
	}
	return fmt.Sprintf("requests to %s would go to %s (network.hosts)", printable(name), printable(addr))
}

// describeCA words a network.ca file, calling out that its holder can
// receive every grant's credential.
func (s *Sandbox) describeCA(value string) string {
	path, digest, _ := strings.Cut(value, " ")
	out := fmt.Sprintf("the proxy would trust servers whose certificates %s (%s) signs", printable(path), printable(digest))
	if names := s.grantNames(); len(names) > 0 {
		out += fmt.Sprintf("; whoever holds that CA's key could receive the credentials of grant %s", strings.Join(names, ", "))
	}
	return out
}

func describeDocker(mode string) string {
	switch mode {
	case "host":
		return "the agent would control the host's Docker engine (docker:host), which is root on this machine"
	case "dind":
		return "the agent would run its own Docker daemon (docker:dind) in a container with extra privileges"
	}
	return "the agent would get Docker mode " + printable(mode)
}

func describeOption(value string) string {
	name, val, _ := strings.Cut(value, "=")
	switch name {
	case "cache":
		return "the agent's Docker images and containers would be kept for the next run of this workspace (docker.cache)"
	case "host_bypasses_egress":
		return "docker:host would be allowed with grants or a strict policy, which it bypasses (docker.host_bypasses_egress)"
	case "buildkit_image":
		return fmt.Sprintf("the BuildKit sidecar would run image %s with extra privileges (docker.buildkit_image)", printable(val))
	case "insecure_registry":
		return fmt.Sprintf("the run's Docker would pull from %s over plain HTTP (docker.insecure_registries)", printable(val))
	case "install":
		return fmt.Sprintf("Docker would be installed from %s's packages (docker.install)", printable(val))
	}
	return fmt.Sprintf("docker.%s would be set to %s", printable(name), printable(val))
}

// grantsFor returns the grants whose credential goes to host.
func (s *Sandbox) grantsFor(host string) []string {
	var names []string
	for _, name := range s.grantNames() {
		for _, h := range s.GrantHosts[name] {
			if hostMatches(h, host) {
				names = append(names, printable(name))
				break
			}
		}
	}
	return names
}

// grantNames lists the sandbox's grants in order.
func (s *Sandbox) grantNames() []string {
	var names []string
	for _, p := range s.Permissions {
		if p.Kind == Grant {
			names = append(names, p.Value)
		}
	}
	return names
}

// hostMatches reports whether a grant's host pattern (a name or
// "*.domain") covers name; case-insensitive, ignoring a final dot.
func hostMatches(pattern, name string) bool {
	pattern = strings.TrimSuffix(strings.ToLower(pattern), ".")
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(name, "."+suffix) || name == suffix
	}
	return pattern == name
}

func printable(s string) string { return termtext.Quote(s) }

// describeBase words a base image of agent.yaml's choosing.
func describeBase(value string) string {
	kind, rest, _ := strings.Cut(value, " ")
	name, id, _ := strings.Cut(rest, " ")
	if kind == "dockerfile" {
		return fmt.Sprintf("the run's image would be built on one made from %s (context %s), whose steps run as root in the build with the engine's network, and whose programs run as root when the container starts",
			printable(name), printable(id))
	}
	return fmt.Sprintf("the run's image would be built on the image %s (%s), whose programs run as root when the container starts",
		printable(name), printable(id))
}
