package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// SourceTunnel is the Source of rules from network.tunnel-only.
const SourceTunnel = "network.tunnel-only"

// Mode is the value of network.policy in agent.yaml.
type Mode string

// Modes. The empty Mode means Strict.
const (
	Strict     Mode = "strict"     // only allowed hosts
	Permissive Mode = "permissive" // every public host, still through the proxy and traced
	None       Mode = "none"       // no network at all
)

// Policy is one run's network policy. Build it with New, then add grant
// hosts with AddGrantHosts before the proxy starts; after that it is only
// read and is safe for concurrent use.
type Policy struct {
	Mode  Mode
	Allow []Rule                // network.allow, then grant hosts, in order
	Hosts map[string]netip.Addr // network.hosts: lower-case name to the address it maps to

	// Tunnel holds network.tunnel-only: the hosts whose TLS the proxy
	// passes through unopened (their clients pin certificates). They
	// allow nothing by themselves.
	Tunnel []Rule

	// Private lists extra destinations blocked like private ones unless
	// explicitly allowed, such as the host's own public addresses. Nil adds
	// nothing.
	Private []netip.Prefix

	// Local reports whether an address is one of the host's own (an
	// interface's address, an engine bridge's): the proxy runs in the
	// host's network namespace, where they reach the host's services.
	// They are blocked in every mode unless a network.hosts mapping or an
	// IP rule names exactly that address. Nil knows only loopback.
	Local func(netip.Addr) bool
}

// New builds a policy from the network section in its text form: mode, rule
// patterns and name-to-address pairs. The proxy sidecar calls it once, on
// the configuration the CLI hands it (egress.Policy); agent.yaml itself is
// parsed by config, with ParseRule, ParseHostName and ParseHostAddr. New
// reports every invalid rule and mapping, not just the first. Its rules
// allow every request to their hosts; the caller narrows one by setting
// its Requests from ParseRequests before the policy is used.
func New(mode Mode, allow []string, hosts map[string]string) (*Policy, error) {
	var errs []error
	p := &Policy{Mode: mode}
	if mode == "" {
		p.Mode = Strict
	} else if mode != Strict && mode != Permissive && mode != None {
		errs = append(errs, fmt.Errorf(`invalid network.policy %q: must be "strict", "permissive" or "none"`, mode))
	}
	for _, s := range allow {
		r, err := ParseRule(s, SourceAllow)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Allow = append(p.Allow, r)
	}
	var err error
	p.Hosts, err = parseHosts(hosts)
	if err = errors.Join(append(errs, err)...); err != nil {
		return nil, err
	}
	return p, nil
}

// SetTunnelOnly parses network.tunnel-only's patterns into p.Tunnel, as
// New parses allow's.
func (p *Policy) SetTunnelOnly(patterns []string) error {
	var errs []error
	for _, s := range patterns {
		r, err := ParseRule(s, SourceTunnel)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Tunnel = append(p.Tunnel, r)
	}
	return errors.Join(errs...)
}

// TunnelOnly reports whether a tunnel-only rule covers host (a name or an
// IP literal) on port.
func (p *Policy) TunnelOnly(host string, port int) bool {
	h := normalizeHost(host)
	addr, isIP := parseIP(h)
	for i := range p.Tunnel {
		r := &p.Tunnel[i]
		if isIP && r.matchesAddr(addr, port) || !isIP && r.matchesName(h) && r.matchesPort(port) {
			return true
		}
	}
	return false
}

func parseHosts(hosts map[string]string) (map[string]netip.Addr, error) {
	var errs []error
	out := make(map[string]netip.Addr, len(hosts))
	names := make([]string, 0, len(hosts))
	for name := range hosts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		key, addr, err := ParseHostMapping(name, hosts[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[key] = addr
	}
	return out, errors.Join(errs...)
}

// ParseHostMapping parses one network.hosts entry, as New does: name must
// be a plain host name and value an IP address without a zone. It returns
// the lower-case name and the address, unmapped from IPv4-in-IPv6.
func ParseHostMapping(name, value string) (string, netip.Addr, error) {
	host, err := ParseHostName(name)
	if err != nil {
		return "", netip.Addr{}, err
	}
	addr, err := ParseHostAddr(name, value)
	return host, addr, err
}

// ParseHostName checks the name of a network.hosts entry, a plain host
// name, and returns it as the proxy looks it up: lower-case, without a
// trailing dot. config uses it to report a bad name at its line in
// agent.yaml before it reads the address.
func ParseHostName(name string) (string, error) {
	r, err := ParseRule(name, "network.hosts")
	if err != nil {
		return "", err
	}
	if r.Wildcard || r.Port != 0 || r.Prefix != nil {
		return "", fmt.Errorf("invalid network.hosts entry %q: the key must be a plain host name, without wildcard, port or IP", name)
	}
	return r.Host, nil
}

// ParseHostAddr parses the address network.hosts maps name to: an IP
// address without a zone, returned unmapped from IPv4-in-IPv6. name is
// only for the message.
func ParseHostAddr(name, value string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(value)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid network.hosts entry %q: %q is not an IP address", name, value)
	}
	return addr.Unmap(), nil
}

// AddGrantHosts allows the hosts a grant needs, recorded with Source
// "grant <name>", on the port the grant injects on only: the host's own
// port, or 443 (grants inject only inside TLS, and without a port a grant
// host means 443). It adds nothing if any host is invalid.
func (p *Policy) AddGrantHosts(grant string, hosts []string) error {
	return p.addGrantHostsOn(grant, hosts, grantPort)
}

// AddSSHHosts allows the hosts an ssh grant signs for ("github.com",
// "git.example:2222"), recorded with Source "grant <name>", on their SSH
// port only: the host's own, or 22. An ssh grant opens no HTTPS. It adds
// nothing if any host is invalid.
func (p *Policy) AddSSHHosts(grant string, hosts []string) error {
	return p.addGrantHostsOn(grant, hosts, sshPort)
}

func (p *Policy) addGrantHostsOn(grant string, hosts []string, defaultPort int) error {
	if grant == "" {
		return errors.New("adding grant hosts: grant name is empty")
	}
	var rules []Rule
	var errs []error
	for _, h := range hosts {
		r, err := ParseRule(h, "grant "+grant)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.Port == 0 {
			r.Port = defaultPort
			v6 := r.Prefix != nil && r.Prefix.Addr().Is6() && r.Prefix.IsSingleIP()
			r.Pattern = joinHostPort(r.Pattern, v6, defaultPort)
		}
		rules = append(rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.Allow = append(p.Allow, rules...)
	return nil
}

// sshPort is the port an ssh grant's host without one is allowed on.
const sshPort = 22

// grantPort is the port a grant host without one is allowed on.
const grantPort = 443

// normalizeHost lower-cases a request host and drops a trailing dot and
// IPv6 brackets.
func normalizeHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host
}

// parseIP parses host as an IP literal. It skips the parse for names, which
// cannot start with a digit in the last label or contain a colon.
func parseIP(host string) (netip.Addr, bool) {
	if host == "" || !strings.Contains(host, ":") && !isDigit(host[len(host)-1]) {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.WithZone("").Unmap(), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (r *Rule) matchesName(name string) bool {
	if r.Prefix != nil {
		return false
	}
	if !r.Wildcard {
		return name == r.Host
	}
	n := len(name) - len(r.Host)
	return n > 1 && name[n-1] == '.' && name[n:] == r.Host
}

func (r *Rule) matchesPort(port int) bool { return r.Port == 0 || r.Port == port }

func (r *Rule) matchesAddr(addr netip.Addr, port int) bool {
	return r.Prefix != nil && r.Prefix.Contains(addr) && r.matchesPort(port)
}

// allowedBy names the rule that allowed a request.
func allowedBy(r *Rule) Decision {
	return Decision{Allowed: true, Rule: fmt.Sprintf("%s %+q", r.Source, r.Pattern)}
}
