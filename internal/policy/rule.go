package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Rule is one parsed allow rule.
//
// A name rule matches a host name case-insensitively, ignoring a trailing
// dot. A wildcard rule "*.example.com" matches any name below example.com
// ("a.example.com", "a.b.example.com") but not "example.com" itself; allow
// both patterns to reach both. An IP or CIDR rule sets Prefix and matches
// only IP literals and dialed addresses, never names.
type Rule struct {
	Pattern  string        // canonical form; ParseRule(Pattern) returns the same rule
	Host     string        // lower-case name without "*." or port; empty for IP and CIDR rules
	Wildcard bool          // the pattern was "*.<Host>"
	Port     int           // 0 allows any port
	Prefix   *netip.Prefix // set for IP and CIDR rules; a single IP is a /32 or /128
	Source   string        // where the rule came from: "network.allow", "grant github"
	// Requests, when set, narrows the rule to some methods and paths. Only
	// network.allow rules have it.
	Requests *Requests
}

// SourceAllow is the Source of rules from network.allow in agent.yaml.
const SourceAllow = "network.allow"

// RuleError reports a rule that does not parse. Fix, when set, is the
// remedy to show the user.
type RuleError struct {
	Input  string // the rule as written
	Source string // where it was written, such as "network.allow"
	Why    string
	Fix    string
}

func (e *RuleError) Error() string {
	msg := fmt.Sprintf("invalid rule %q", e.Input)
	if e.Source != "" {
		msg += " in " + e.Source
	}
	msg += ": " + e.Why
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// ParseRule parses one allow rule: a host name ("api.github.com"), a
// wildcard ("*.example.com"), an IP ("10.0.0.5", "::1") or a CIDR
// ("10.0.0.0/8"), optionally with a port ("example.com:8443",
// "[::1]:443"). Source records where the rule came from.
func ParseRule(s, source string) (Rule, error) {
	if why, fix := checkShape(s); why != "" {
		return Rule{}, &RuleError{s, source, why, fix}
	}
	var r Rule
	var why, fix string
	if strings.Contains(s, "/") {
		r, why, fix = parsePrefix(s)
	} else {
		r, why, fix = parseHostPort(s)
	}
	if why != "" {
		return Rule{}, &RuleError{s, source, why, fix}
	}
	r.Source = source
	return r, nil
}

// checkShape rejects inputs that are not host rules at all: empty ones,
// URLs, non-ASCII names and anything with spaces or control characters.
func checkShape(s string) (why, fix string) {
	switch {
	case s == "":
		return "rule is empty", `name a host such as "api.example.com"`
	case strings.Contains(s, "://"):
		return "rules name hosts, not URLs", suggest(s[strings.Index(s, "://")+3:])
	}
	for _, c := range s {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return "contains whitespace", "remove it, or write one rule per list entry"
		case c < 0x20 || c == 0x7f:
			return "contains a control character", ""
		case c > 0x7f:
			return "contains non-ASCII characters", "write the name in its punycode form (xn--...)"
		}
	}
	return "", ""
}

// suggest returns a fix naming the host part of a URL-like input.
func suggest(rest string) string {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if rest == "" {
		return ""
	}
	return fmt.Sprintf("use %q", rest)
}

// parsePrefix parses a CIDR rule with an optional port ("10.0.0.0/8:5432");
// any other slash is a path.
func parsePrefix(s string) (r Rule, why, fix string) {
	before, after, _ := strings.Cut(s, "/")
	cidr, port := s, 0
	if bits, portStr, ok := strings.Cut(after, ":"); ok {
		if _, err := netip.ParseAddr(before); err == nil {
			if port, why = parsePort(portStr); why != "" {
				return r, why, ""
			}
			cidr = before + "/" + bits
		}
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		if _, aerr := netip.ParseAddr(before); aerr == nil {
			return r, "invalid CIDR prefix", `write it as "10.0.0.0/8" or "fd00::/8"`
		}
		return r, "rules name hosts, not paths", suggest(s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return r, "address has bits set beyond the prefix length", fmt.Sprintf("use %q", m.String())
	}
	return Rule{Pattern: joinHostPort(p.String(), false, port), Port: port, Prefix: &p}, "", ""
}

// parseHostPort parses "host", "host:port", "ip", "[ipv6]" or "[ipv6]:port".
func parseHostPort(s string) (r Rule, why, fix string) {
	host, portStr, hasPort, bracketed, why, fix := splitHostPort(s)
	if why != "" {
		return r, why, fix
	}
	port := 0
	if hasPort {
		if port, why = parsePort(portStr); why != "" {
			return r, why, ""
		}
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return ipRule(addr, port)
	}
	if bracketed {
		return r, "brackets are only for IPv6 addresses", ""
	}
	return nameRule(host, port)
}

func splitHostPort(s string) (host, port string, hasPort, bracketed bool, why, fix string) {
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false, true, `missing "]"`, ""
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, "", false, true, "", ""
		}
		if rest[0] != ':' {
			return "", "", false, true, `unexpected text after "]"`, ""
		}
		return host, rest[1:], true, true, "", ""
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s, "", false, false, "", ""
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", false, false, "", ""
	}
	if strings.Contains(s[:i], ":") {
		return "", "", false, false, "an IPv6 address with a port needs brackets", `write it as "[::1]:443"`
	}
	return s[:i], s[i+1:], true, false, "", ""
}

func parsePort(s string) (int, string) {
	const bad = "port must be a number from 1 to 65535"
	if s == "" {
		return 0, "port is empty"
	}
	if len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, bad
	}
	return n, ""
}

func ipRule(addr netip.Addr, port int) (r Rule, why, fix string) {
	if addr.Zone() != "" {
		return r, "IPv6 zones are not supported", fmt.Sprintf("use %q", addr.WithZone("").String())
	}
	addr = addr.Unmap()
	p := netip.PrefixFrom(addr, addr.BitLen())
	return Rule{Pattern: joinHostPort(addr.String(), addr.Is6(), port), Port: port, Prefix: &p}, "", ""
}

func joinHostPort(host string, v6 bool, port int) string {
	if port == 0 {
		return host
	}
	if v6 {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func nameRule(host string, port int) (r Rule, why, fix string) {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "*" {
		return r, `a lone "*" would match every host`, "set network.policy to permissive to allow every host"
	}
	wild := strings.HasPrefix(name, "*.")
	name = strings.TrimPrefix(name, "*.")
	if strings.Contains(name, "*") {
		return r, `"*" is only allowed as the whole first label, as in "*.example.com"`, ""
	}
	if why = checkName(name); why != "" {
		return r, why, ""
	}
	pattern := name
	if wild {
		pattern = "*." + name
	}
	return Rule{Pattern: joinHostPort(pattern, false, port), Host: name, Wildcard: wild, Port: port}, "", ""
}

// checkName validates a lower-case host name without a trailing dot.
func checkName(name string) string {
	if len(name) > 253 {
		return "name is longer than 253 characters"
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if why := checkLabel(l); why != "" {
			return why
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "neither a host name nor an IP address (the last label is numeric)"
	}
	return ""
}

func checkLabel(l string) string {
	switch {
	case l == "":
		return "empty label"
	case len(l) > 63:
		return "label is longer than 63 characters"
	case l[0] == '-' || l[len(l)-1] == '-':
		return `labels cannot start or end with "-"`
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Sprintf("invalid character %q", c)
		}
	}
	return ""
}
