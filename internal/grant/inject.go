package grant

import (
	"encoding/base64"
	"net"
	"slices"
	"strings"
)

// Request is what InjectionFor looks at in a request, as it goes upstream.
type Request struct {
	Host        string // the request's host, with or without a port
	Method      string
	Path        string // the escaped path, as sent on the wire
	Query       string // the raw query, without "?"
	ContentType string
}

// Injection is what the proxy does to one request: set each header in
// Headers (keys are canonical), replacing any value the agent sent.
type Injection struct {
	Grant   string            // the grant's name, for request events
	Headers map[string]Secret // header name -> full value, e.g. "Bearer <token>"
}

// InjectionFor returns the headers g injects into req, and false when g
// does not apply. The proxy must call it only for requests it has
// intercepted over TLS, never for plain HTTP.
//
// Rules: github sends "Authorization: Bearer <token>" to api.github.com and,
// on github.com, Basic auth "x-access-token:<token>" to git smart-HTTP and
// LFS requests only (so the web UI never sees it; see isGitHTTP); anthropic sends "x-api-key"
// to api.anthropic.com; openai sends "Authorization: Bearer" to
// api.openai.com; an http grant sends its header, with the secret as the
// value, to its hosts. Without an explicit port a host matches port 443.
func (g Grant) InjectionFor(req Request, secret Secret) (Injection, bool) {
	if secret.IsZero() || !g.matchesHost(req.Host) {
		return Injection{}, false
	}
	name, value, ok := g.header(hostName(req.Host), req, secret.p.b)
	if !ok {
		return Injection{}, false
	}
	return Injection{Grant: g.Name, Headers: map[string]Secret{name: {p: &secretBytes{b: value}}}}, true
}

// header returns the header and its value for a request g applies to.
func (g Grant) header(host string, req Request, token []byte) (string, []byte, bool) {
	switch g.Kind {
	case GitHub:
		if host == "github.com" {
			if !isGitHTTP(req) {
				return "", nil, false
			}
			return "Authorization", basicAuth("x-access-token", token), true
		}
		return "Authorization", prefixed("Bearer ", token), true
	case Anthropic:
		return "X-Api-Key", prefixed("", token), true
	case OpenAI:
		return "Authorization", prefixed("Bearer ", token), true
	case HTTP:
		return g.Header, prefixed("", token), g.Header != ""
	}
	return "", nil, false
}

// hosts returns the hosts g applies to: the built-in ones for built-in
// kinds, whatever the grant file says notwithstanding.
func (g Grant) hosts() []string {
	if b, ok := Builtin(g.Kind); ok {
		return b.Hosts
	}
	return g.Hosts
}

func (g Grant) matchesHost(host string) bool {
	name, port := splitHost(host)
	for _, pattern := range g.hosts() {
		if hostMatches(pattern, name, port) {
			return true
		}
	}
	return false
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

func basicAuth(user string, password []byte) []byte {
	cred := append([]byte(user+":"), password...)
	out := []byte("Basic ")
	return base64.StdEncoding.AppendEncode(out, cred)
}

func prefixed(prefix string, token []byte) []byte {
	return append([]byte(prefix), token...)
}

// Covers reports whether g injects into some requests to host (with or
// without a port): the proxy intercepts CONNECTs to such hosts.
func (g Grant) Covers(host string) bool { return g.matchesHost(host) }

// EffectiveHosts are the host patterns g applies to: a built-in kind's own
// hosts, whatever its stored Hosts say, or an http grant's Hosts.
func (g Grant) EffectiveHosts() []string { return slices.Clone(g.hosts()) }
