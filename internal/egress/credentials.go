package egress

import (
	"github.com/moatsh/moat/internal/grant"
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

// For returns the first grant's headers that apply to host/path.
func (c *credentials) For(host, path string) (map[string]string, string, bool) {
	for i, g := range c.grants {
		inj, ok := g.InjectionFor(host, path, c.secrets[i])
		if !ok {
			continue
		}
		h := make(map[string]string, len(inj.Headers))
		for k, v := range inj.Headers {
			h[k] = string(v.Reveal())
		}
		return h, inj.Grant, true
	}
	return nil, "", false
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
