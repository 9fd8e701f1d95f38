package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Requests narrows an allow rule from every request to its host down to
// some methods and paths (network.allow's mapping form). A nil Methods or
// Paths leaves that part open. It is read-only once parsed.
type Requests struct {
	Methods []string      // exact, upper-case request methods
	Paths   []PathPattern // the request's path must match one
	// Line is where the entry starts in agent.yaml, for denials; 0 when
	// unknown (a policy built in code).
	Line int
}

// ReadOnly is the methods of read-only: true.
var ReadOnly = []string{"GET", "HEAD"}

// methods are the request methods a rule may list: RFC 9110's, PATCH and
// those of WebDAV and its extensions. CONNECT and TRACE are left out:
// tunnels are the proxy's own, and TRACE is always refused (CheckMethod).
var methods = []string{
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "QUERY",
}

// RequestRuleError reports a method or path pattern that does not parse.
// Fix, when set, is the remedy to show the user.
type RequestRuleError struct {
	What  string // "method" or "path"; "methods" or "paths" for the whole list
	Input string // the method or path; "" for a list
	Why   string
	Fix   string
}

func (e *RequestRuleError) Error() string {
	msg := fmt.Sprintf("invalid %s %q: %s", e.What, e.Input, e.Why)
	if e.What == "methods" || e.What == "paths" {
		msg = e.What + ": " + e.Why
	}
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// ParseMethod checks one method of a rule: upper case, and one moat knows.
func ParseMethod(s string) error {
	if slices.Contains(methods, s) {
		return nil
	}
	bad := func(why, fix string) error { return &RequestRuleError{"method", s, why, fix} }
	upper := strings.ToUpper(s)
	switch {
	case s == "":
		return bad("the method is empty", "write one such as GET")
	case upper == "CONNECT":
		return bad("CONNECT opens the proxy's own tunnels and cannot be allowed per host",
			"remove it: the requests inside an HTTPS tunnel are checked by their own methods")
	case upper == "TRACE" || upper == "TRACK":
		return bad("it is always refused: the server echoes the request back, credentials included", "remove it")
	case slices.Contains(methods, upper):
		return bad("methods are upper case, and a request's method is compared exactly", fmt.Sprintf("use %q", upper))
	}
	return bad("not an HTTP method moat knows", "use "+strings.Join(methods, ", "))
}

// ParseRequests parses the methods and path patterns of one rule, as New
// and config do. Nil methods or paths leave that part open; an empty list
// is an error (it would refuse every request).
func ParseRequests(methodList, paths []string, line int) (*Requests, error) {
	switch {
	case methodList == nil && paths == nil:
		return nil, nil
	case methodList != nil && len(methodList) == 0:
		return nil, &RequestRuleError{"methods", "", "the list is empty", "list the methods to allow, or leave methods out to allow every method"}
	case paths != nil && len(paths) == 0:
		return nil, &RequestRuleError{"paths", "", "the list is empty", "list the paths to allow, or leave paths out to allow every path"}
	}
	r := &Requests{Line: line}
	for _, m := range methodList {
		if err := ParseMethod(m); err != nil {
			return nil, err
		}
		if slices.Contains(r.Methods, m) {
			return nil, &RequestRuleError{"method", m, "listed twice", "remove one"}
		}
		r.Methods = append(r.Methods, m)
	}
	for _, s := range paths {
		p, err := ParsePathPattern(s)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(r.Paths, func(q PathPattern) bool { return q.text == p.text }) {
			return nil, &RequestRuleError{"path", s, "listed twice", "remove one"}
		}
		r.Paths = append(r.Paths, p)
	}
	return r, nil
}

// PathStrings returns the path patterns as written, or nil.
func (r *Requests) PathStrings() []string {
	if r == nil || r.Paths == nil {
		return nil
	}
	out := make([]string, len(r.Paths))
	for i, p := range r.Paths {
		out[i] = p.text
	}
	return out
}

// RequestRule returns the allow rule whose methods and paths apply to
// requests to host:port, or nil when none does and every request to the
// host is up to CheckHost alone. Of the network.allow rules that match,
// the most specific decides (see moreSpecific), whether or not it has
// methods or paths: a plain "api.example.com" opens that host even under a
// restricted "*.example.com". Grant hosts and network.hosts names never
// lift a rule's restrictions: they only let the host be reached.
func (p *Policy) RequestRule(host string, port int) *Rule {
	h := normalizeHost(host)
	addr, isIP := parseIP(h)
	var best *Rule
	for i := range p.Allow {
		r := &p.Allow[i]
		if r.Source != SourceAllow || !r.matchesPort(port) {
			continue
		}
		if isIP && !r.matchesAddr(addr, port) || !isIP && !r.matchesName(h) {
			continue
		}
		if best == nil || moreSpecific(r, best) {
			best = r
		}
	}
	if best == nil || best.Requests == nil {
		return nil
	}
	return best
}

// moreSpecific reports whether a names fewer hosts than b, both matching
// one host: a name before a wildcard, a longer wildcard or prefix before a
// shorter, and then a rule with a port before one without.
func moreSpecific(a, b *Rule) bool {
	if a.Prefix != nil && b.Prefix != nil && a.Prefix.Bits() != b.Prefix.Bits() {
		return a.Prefix.Bits() > b.Prefix.Bits()
	}
	if a.Wildcard != b.Wildcard {
		return !a.Wildcard
	}
	if la, lb := strings.Count(a.Host, "."), strings.Count(b.Host, "."); la != lb {
		return la > lb
	}
	return a.Port != 0 && b.Port == 0
}

// CheckRequest is the check on each HTTP request, after CheckHost allowed
// its host: method is the request's method as sent and target its
// request-target as the server will see it ("/path?query", or "*" for
// OPTIONS). upgrade is the request's Upgrade header (its values joined),
// "" when it asks for none. It refuses, for a host whose rule has methods
// or paths (RequestRule), a method or path the rule does not list, a path
// that cannot be matched safely (see splitTarget), and a switch to any
// protocol but WebSocket, whose later requests the proxy could not see.
// Every other request is allowed.
func (p *Policy) CheckRequest(host string, port int, method, target, upgrade string) Decision {
	r := p.RequestRule(host, port)
	if r == nil {
		return Decision{Allowed: true}
	}
	req, name := r.Requests, normalizeHost(host)
	if req.Methods != nil && !slices.Contains(req.Methods, method) {
		return denyMethod(name, method, r)
	}
	if upgrade != "" && !strings.EqualFold(upgrade, "websocket") {
		return denyUpgrade(name, method, target, upgrade, r)
	}
	if req.Paths != nil {
		segs, why := splitTarget(target)
		if why != "" {
			return denyUnsafePath(name, method, target, why, r)
		}
		if !slices.ContainsFunc(req.Paths, func(pp PathPattern) bool { return pp.match(segs) }) {
			return denyPath(name, method, target, r)
		}
	}
	return allowedBy(r)
}

// HasRequestRules reports whether requests to host:port are checked
// against methods or paths: the proxy must then see inside their TLS.
func (p *Policy) HasRequestRules(host string, port int) bool {
	return p.RequestRule(host, port) != nil
}
