package grant

import (
	"net"
	"slices"
	"strings"
)

// RequestApplier returns the applier of g's kind when its credential goes
// on HTTPS requests, and false for unknown kinds and kinds of other
// channels. The proxy's adapter calls its ApplyRequest, for requests it
// has intercepted over TLS (never plain HTTP) to a host g Covers.
func (g Grant) RequestApplier() (RequestApplier, bool) {
	k, ok := LookupKind(g.Kind)
	if !ok {
		return nil, false
	}
	a, ok := k.Apply.(RequestApplier)
	return a, ok
}

// Covers reports whether g's credential goes on some HTTPS requests to
// host (with or without a port; without one, a pattern with no port
// matches): the proxy intercepts CONNECTs to such hosts.
func (g Grant) Covers(host string) bool {
	if _, ok := g.RequestApplier(); !ok {
		return false
	}
	name, port := splitHost(host)
	for _, pattern := range g.hosts() {
		if hostMatches(pattern, name, port) {
			return true
		}
	}
	return false
}

// hosts returns the hosts g applies to: a fixed kind's own, whatever the
// grant file says notwithstanding.
func (g Grant) hosts() []string {
	if k, ok := LookupKind(g.Kind); ok && k.Fixed() {
		return k.Hosts
	}
	return g.Hosts
}

// hostMatches reports whether pattern ("api.example.com", "*.example.com",
// "api.example.com:8443") covers name:port. An empty port means 443.
func hostMatches(pattern, name, port string) bool {
	pname, pport := splitHost(pattern)
	if pport != port {
		return false
	}
	if suffix, ok := strings.CutPrefix(pname, "*"); ok {
		return strings.HasSuffix(name, suffix) && len(name) > len(suffix)
	}
	return pname == name
}

// splitHost lower-cases host, drops a trailing dot and splits off the port,
// returning "443" when there is none.
func splitHost(host string) (name, port string) {
	host = strings.ToLower(host)
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, "443"
	}
	return strings.TrimSuffix(name, "."), port
}

func hostName(host string) string {
	name, _ := splitHost(host)
	return name
}

// EffectiveHosts are the host patterns g applies to: a fixed kind's own
// hosts, whatever its stored Hosts say, or an http grant's Hosts.
func (g Grant) EffectiveHosts() []string { return slices.Clone(g.hosts()) }

// Overlap returns a host both g and o put a credential on, if any: a run
// with both could not say which credential a request to it carries, so
// the run refuses them together. A wildcard overlaps the names below it,
// and another wildcard when one's suffix ends the other's.
func (g Grant) Overlap(o Grant) (string, bool) {
	if _, ok := g.RequestApplier(); !ok {
		return "", false
	}
	if _, ok := o.RequestApplier(); !ok {
		return "", false
	}
	for _, a := range g.hosts() {
		for _, b := range o.hosts() {
			if patternsOverlap(a, b) {
				return a, true
			}
		}
	}
	return "", false
}

func patternsOverlap(a, b string) bool {
	// A wildcard's own example name ("x.example.com" for "*.example.com")
	// stands for it; a plain name is its own example.
	example := func(p string) string {
		if rest, ok := strings.CutPrefix(p, "*"); ok {
			return "x" + rest
		}
		return p
	}
	an, ap := splitHost(example(a))
	bn, bp := splitHost(example(b))
	return hostMatches(a, bn, bp) || hostMatches(b, an, ap)
}
