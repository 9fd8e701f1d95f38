package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// The proxy answers a blocked request, and a blocked CONNECT, with status
// DenyStatus (403 Forbidden: the proxy understood the request and refuses
// it; 407 would wrongly suggest credentials help), header HeaderName set to
// Decision.Header and Decision.Body as a text/plain body.
const (
	DenyStatus = 403
	HeaderName = "X-Moat-Blocked"
)

// Decision is the outcome of a check.
type Decision struct {
	Allowed bool
	Rule    string // the rule that allowed the request, or why it was blocked
	Hint    string // how to allow a blocked request; may be empty
}

// Header is the value of the X-Moat-Blocked header: the reason, in
// printable ASCII. It is empty for an allowed request.
func (d Decision) Header() string {
	if d.Allowed {
		return ""
	}
	return printable(d.Rule)
}

// Body is the text body of the deny response, naming the rule and the hint.
// It is empty for an allowed request.
func (d Decision) Body() string {
	if d.Allowed {
		return ""
	}
	body := "moat blocked this request: " + d.Rule + "\n"
	if d.Hint != "" {
		body += "To allow it, " + d.Hint + ".\n"
	}
	return body
}

// printable replaces bytes that may not appear in a header value.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
}

func addHint(pattern string) string {
	return fmt.Sprintf("add %+q to network.allow in agent.yaml", pattern)
}

func (p *Policy) denyNone(host string) Decision {
	d := Decision{
		Rule: `network.policy "none": the run has no network access`,
		Hint: fmt.Sprintf(`set network.policy to "strict" in agent.yaml and add %+q to network.allow`, normalizeHost(host)),
	}
	if addr, ok := parseIP(normalizeHost(host)); ok {
		if _, private, _ := p.classify(addr.WithZone("").Unmap()); private {
			d.Hint = `set network.policy to "strict" in agent.yaml` // see denyPrivate
		}
	}
	return d
}

func denyStrict(host string) Decision {
	return Decision{
		Rule: fmt.Sprintf(`%+q is not in network.allow (network.policy "strict")`, host),
		Hint: addHint(host),
	}
}

func denyPort(name string, port int, r *Rule) Decision {
	return Decision{
		Rule: fmt.Sprintf("%+q is allowed only on port %d (%s %+q)", name, r.Port, r.Source, r.Pattern),
		Hint: addHint(joinHostPort(name, false, port)),
	}
}

// denyPrivate refuses a private, loopback, link-local or metadata
// destination with no hint: the agent chooses where its requests go and
// reads the denial, and a remedy to paste would open the user's network
// (or the cloud's metadata service, with its credentials) to it. Opening
// one is a choice the docs describe, not one a denial suggests.
func denyPrivate(host string, addr netip.Addr, class string) Decision {
	rule := fmt.Sprintf("%s is %s", addr, class)
	if host != "" && host != addr.String() {
		rule = fmt.Sprintf("%+q resolves to %s, %s", host, addr, class)
	}
	return Decision{Rule: rule}
}

// maxQuotedPath bounds how much of a refused request's path a denial
// quotes: the agent chose it, and the denial goes into the audit log.
const maxQuotedPath = 200

// quotePath quotes a request-target's path for a denial, without the
// query, which may carry credentials.
func quotePath(target string) string {
	path, _, _ := strings.Cut(target, "?")
	if len(path) > maxQuotedPath {
		return fmt.Sprintf("%+q...", path[:maxQuotedPath])
	}
	return fmt.Sprintf("%+q", path)
}

// entry names a rule with request rules, for denials: its pattern and,
// when known, its line in agent.yaml.
func entry(r *Rule) string {
	if r.Requests.Line > 0 {
		return fmt.Sprintf("%s %+q (agent.yaml line %d)", r.Source, r.Pattern, r.Requests.Line)
	}
	return fmt.Sprintf("%s %+q", r.Source, r.Pattern)
}

func denyMethod(host, method string, r *Rule) Decision {
	return Decision{
		Rule: fmt.Sprintf("%s to %s is not allowed: %s permits only %s there", method, host, entry(r), strings.Join(r.Requests.Methods, ", ")),
		Hint: fmt.Sprintf("add %s to the methods of %s %+q", method, r.Source, r.Pattern),
	}
}

func denyPath(host, method, target string, r *Rule) Decision {
	return Decision{
		Rule: fmt.Sprintf("%s %s on %s is not allowed: %s permits only the paths %s there",
			method, quotePath(target), host, entry(r), strings.Join(r.Requests.PathStrings(), ", ")),
		Hint: fmt.Sprintf("add a pattern matching this path to the paths of %s %+q", r.Source, r.Pattern),
	}
}

func denyUnsafePath(host, method, target, why string, r *Rule) Decision {
	return Decision{
		Rule: fmt.Sprintf("%s %s on %s is refused: %s, which servers read differently, so the paths of %s cannot be checked on it",
			method, quotePath(target), host, why, entry(r)),
		Hint: "send the path in its plain form: no dot segments, encoded slashes, doubled slashes or double encoding",
	}
}

func denyUpgrade(host, method, target, upgrade string, r *Rule) Decision {
	return Decision{
		Rule: fmt.Sprintf("%s %s on %s asks to switch to %+q: %s limits methods or paths there, and the proxy cannot check requests after the switch",
			method, quotePath(target), host, upgrade, entry(r)),
		Hint: fmt.Sprintf("remove methods and paths from %s %+q (only WebSocket upgrades are let through)", r.Source, r.Pattern),
	}
}
