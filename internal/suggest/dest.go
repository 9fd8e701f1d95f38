package suggest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/trace"
)

// dest is where one recorded request went: a host name or an IP address,
// and a port.
type dest struct {
	host string     // lower case, no trailing dot, no brackets
	addr netip.Addr // set when host is an IP address
	port int
	// standard is true when port is the scheme's own (443 for https and
	// tunnels, 80 for plain http): a rule for such a use names no port.
	standard bool
	// private is the address a name resolved to when the proxy refused it
	// as a private or special destination, and class names its kind.
	private netip.Addr
	class   string
}

// String is the destination as host:port, as the trace shows a tunnel.
func (d dest) String() string {
	return net.JoinHostPort(d.host, strconv.Itoa(d.port))
}

// destinationOf reads where r went. ok is false for a request that names
// no host, or a host no rule could name (the agent chose what it asked
// for: "*.example.com", a URL, control characters); why says which.
func destinationOf(r trace.Request) (d dest, why string, ok bool) {
	d.port = 443
	if !r.Tunnel() && r.Scheme == "http" {
		d.port = 80
	}
	standard := d.port
	host := r.Host
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return d, fmt.Sprintf("port %q is not a number from 1 to 65535", p), false
		}
		host, d.port = h, n
	}
	d.standard = d.port == standard
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")), ".")
	if host == "" {
		return d, "the request names no host", false
	}
	rule, err := policy.ParseRule(host, "trace")
	var re *policy.RuleError
	if errors.As(err, &re) {
		return d, re.Why, false
	}
	if err != nil {
		return d, err.Error(), false
	}
	switch {
	case rule.Wildcard || rule.Port != 0:
		return d, "a destination is one host on one port", false
	case rule.Prefix != nil && !rule.Prefix.IsSingleIP():
		return d, "a destination is one address, not a range", false
	case rule.Prefix != nil:
		d.addr = rule.Prefix.Addr()
		d.host = d.addr.String()
	default:
		d.host = rule.Host
	}
	d.private, d.class = resolvedPrivate(r, d.host)
	return d, "", true
}

// resolvedPrivate reads, from a request the proxy refused because name
// resolved to a private or special address, that address and its class.
// The proxy writes such a refusal as policy's deny rule for it: `"NAME"
// resolves to ADDR, CLASS`. Anything else gives no address.
func resolvedPrivate(r trace.Request, name string) (netip.Addr, string) {
	rule, ok := strings.CutPrefix(r.Decision, "deny: ")
	if !r.Denied || !ok {
		return netip.Addr{}, ""
	}
	rest, ok := strings.CutPrefix(rule, fmt.Sprintf("%+q resolves to ", name))
	if !ok {
		return netip.Addr{}, ""
	}
	addrText, class, ok := strings.Cut(rest, ", ")
	addr, err := netip.ParseAddr(addrText)
	if !ok || err != nil || class == "" {
		return netip.Addr{}, ""
	}
	return addr.WithZone("").Unmap(), class
}

// addrClass names the kind of a private or special address the way the
// proxy does, or returns "" for a public one. It asks policy, whose deny
// rule for such an address reads "ADDR is CLASS".
func addrClass(addr netip.Addr) string {
	d := (&policy.Policy{Mode: policy.Strict}).CheckAddr(addr.String(), addr, 443)
	if d.Allowed {
		return ""
	}
	if class, ok := strings.CutPrefix(d.Rule, addr.String()+" is "); ok {
		return class
	}
	return d.Rule
}
