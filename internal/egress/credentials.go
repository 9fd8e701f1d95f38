package egress

import (
	"net/http"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/proxy"
)

// credentials answers the proxy's questions from the run's grants.
type credentials struct {
	grants  []grant.Grant
	secrets []grant.Secret
}

func newCredentials(gs []GrantSecret) *credentials {
	c := &credentials{}
	for _, g := range gs {
		c.grants = append(c.grants, g.Grant)
		c.secrets = append(c.secrets, grant.NewSecret(g.Secret))
		clear(g.Secret)
	}
	return c
}

// For returns the first grant's headers that apply to r, sent to host.
func (c *credentials) For(host string, r *http.Request) (proxy.Injection, bool) {
	req := grant.Request{
		Host: host, Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"),
	}
	for i, g := range c.grants {
		inj, ok := g.InjectionFor(req, c.secrets[i])
		if !ok {
			continue
		}
		h := make(map[string]string, len(inj.Headers))
		for k, v := range inj.Headers {
			h[k] = string(v.Reveal())
		}
		return proxy.Injection{Grant: inj.Grant, Headers: h, Secrets: []string{string(c.secrets[i].Reveal())}}, true
	}
	return proxy.Injection{}, false
}

// Intercept reports whether any grant covers host.
func (c *credentials) Intercept(host string) bool {
	for _, g := range c.grants {
		if g.Covers(host) {
			return true
		}
	}
	return false
}
