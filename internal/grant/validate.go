package grant

import (
	"fmt"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Patterns are compiled on first use, not at start: every moat process
// (the CLI, the proxy, the relay) pays for what package init does.
var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,40}$`) })

// ValidateName checks a grant name: a fixed kind's name, or an http
// grant's name matching [a-z0-9][a-z0-9-]{0,40}. It keeps names safe to use
// as file names.
func ValidateName(name string) error {
	if !namePattern().MatchString(name) {
		return &InvalidError{What: "grant name", Value: name,
			Why:    "must be 1 to 41 lower-case letters, digits or hyphens, starting with a letter or digit",
			Remedy: "Choose a name like 'internal-api'."}
	}
	return nil
}

// Normalize validates g and returns it in stored form: a grant of a fixed
// kind gets its hosts and header filled in (and must not name others); an
// http grant gets lower-case hosts and a canonical header name.
func (g Grant) Normalize() (Grant, error) {
	if err := ValidateName(g.Name); err != nil {
		return Grant{}, err
	}
	k, ok := LookupKind(g.Kind)
	n, ownRules := k.Apply.(normalizer)
	switch {
	case !ok:
		return Grant{}, &InvalidError{What: "grant kind", Value: string(g.Kind), Why: "must be " + KindChoices()}
	case ownRules:
		return n.normalize(g)
	case g.SSH != nil:
		return Grant{}, &InvalidError{What: "grant", Value: g.Name, Why: "only an ssh grant holds an ssh key"}
	case k.Fixed():
		b, _ := Builtin(g.Kind)
		return normalizeBuiltin(g, b)
	}
	return normalizeHTTP(g)
}

func normalizeBuiltin(g, b Grant) (Grant, error) {
	if g.Name != b.Name {
		return Grant{}, &InvalidError{What: "grant name", Value: g.Name,
			Why: fmt.Sprintf("a %s grant is always named %q", g.Kind, b.Name)}
	}
	if len(g.Hosts) > 0 && !slices.Equal(g.Hosts, b.Hosts) || g.Header != "" && g.Header != b.Header {
		return Grant{}, &InvalidError{What: "grant", Value: g.Name,
			Why:    "hosts and header of a built-in grant are fixed",
			Remedy: "Use 'moat grant http NAME --host HOST --header HEADER' for other hosts."}
	}
	b.CreatedAt = g.CreatedAt
	return b, nil
}

func normalizeHTTP(g Grant) (Grant, error) {
	if _, ok := LookupKind(Kind(g.Name)); ok {
		return Grant{}, &InvalidError{What: "grant name", Value: g.Name,
			Why: "is reserved for the built-in grant", Remedy: "Choose another name, like 'internal-api'."}
	}
	if len(g.Hosts) == 0 {
		return Grant{}, &InvalidError{What: "grant", Value: g.Name, Why: "an http grant needs at least one host",
			Remedy: "Pass --host, for example --host api.example.com."}
	}
	out := g
	out.Hosts = make([]string, len(g.Hosts))
	for i, h := range g.Hosts {
		n, err := NormalizeHost(h)
		if err != nil {
			return Grant{}, err
		}
		out.Hosts[i] = n
	}
	header, err := NormalizeHeader(g.Header)
	if err != nil {
		return Grant{}, err
	}
	out.Header = header
	return out, nil
}

// NormalizeHost validates a host an http grant names and returns it in
// lower case without a trailing dot. Allowed: a DNS name or IPv4 address,
// optionally with ":port" (without one, only port 443 matches), and a
// leading "*." matching any subdomain at any depth (not the name itself)
// of a name with at least two labels. No schemes, paths, users or IPv6.
func NormalizeHost(host string) (string, error) {
	bad := func(why string) (string, error) {
		return "", &InvalidError{What: "host", Value: host, Why: why,
			Remedy: "Give a bare host name, like api.example.com, *.example.com or api.example.com:8443."}
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/@?#[] ") {
		return bad("must be a host name, without scheme, path or user")
	}
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort && !validPort(port) {
		return bad("port must be a number from 1 to 65535")
	}
	wild := strings.HasPrefix(name, "*.")
	name = strings.TrimPrefix(name, "*.")
	if why := checkDNSName(name); why != "" {
		return bad(why)
	}
	if wild && !strings.Contains(name, ".") {
		return bad("a wildcard must cover a name with at least two labels, like *.example.com")
	}
	return h, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// checkDNSName returns why name is not a DNS name, or "".
func checkDNSName(name string) string {
	if name == "" || len(name) > 253 {
		return "must be 1 to 253 characters"
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return "each dot-separated label must be 1 to 63 characters"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "labels must not start or end with a hyphen"
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "may hold only letters, digits, hyphens and dots (and a leading *.)"
			}
		}
	}
	return ""
}

// forbiddenHeaders are headers an http grant may not set: they frame the
// message or belong to one hop, so injecting them breaks or smuggles requests.
var forbiddenHeaders = []string{"Connection", "Content-Length", "Host", "Keep-Alive", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// NormalizeHeader validates a header name (an RFC 7230 token) and returns
// its canonical form ("x-api-key" becomes "X-Api-Key").
func NormalizeHeader(name string) (string, error) {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return "", &InvalidError{What: "header name", Value: name,
			Why:    "must be a non-empty token of letters, digits and !#$%&'*+-.^_`|~",
			Remedy: "Pass --header with a name like X-Api-Key or Authorization."}
	}
	c := textproto.CanonicalMIMEHeaderKey(name)
	if slices.Contains(forbiddenHeaders, c) {
		return "", &InvalidError{What: "header name", Value: name,
			Why: "is a connection or framing header and cannot carry a credential"}
	}
	return c, nil
}

func isTokenChar(r rune) bool {
	return r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

// normalizer is an Applier whose kind has rules of its own for its
// grants' metadata (ssh).
type normalizer interface {
	normalize(Grant) (Grant, error)
}

// secretChecker is an Applier whose kind's secrets are not header values
// (an SSH private key spans lines; an agent-held key has none).
type secretChecker interface {
	checkSecret(Grant, Secret) error
}

// validateSecret checks that g's secret can be stored: for most kinds,
// that it can go into a header value (not empty, no control characters:
// a line break would split the header). Errors describe the problem,
// never the value.
func validateSecret(g Grant, s Secret) error {
	if k, ok := LookupKind(g.Kind); ok {
		if c, ok := k.Apply.(secretChecker); ok {
			return c.checkSecret(g, s)
		}
	}
	if s.IsZero() {
		return &InvalidError{What: "token", Why: "is empty", Remedy: "Pass the token with --token, on stdin, or in the environment."}
	}
	for _, c := range s.p.b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return &InvalidError{What: "token", Why: "contains a line break or control character",
				Remedy: "Check for a trailing newline, or a file pasted in place of the token."}
		}
	}
	return nil
}
