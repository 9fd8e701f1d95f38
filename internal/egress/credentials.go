package egress

import (
	"net/http"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/proxy"
)

// credentials answers the proxy's questions from the run's grants.
type credentials struct {
	grants []runGrant
}

// runGrant is one of the run's grants whose credential goes on HTTPS
// requests, with its kind's applier and its secret.
type runGrant struct {
	grant  grant.Grant
	apply  grant.RequestApplier
	secret grant.Secret
}

// newCredentials keeps the grants the proxy applies; a grant of another
// channel (bound to a destination outside HTTPS) is not the proxy's.
func newCredentials(gs []GrantSecret) *credentials {
	c := &credentials{}
	for _, g := range gs {
		secret := grant.NewSecret(g.Secret)
		clear(g.Secret)
		if apply, ok := g.Grant.RequestApplier(); ok && !secret.IsZero() {
			c.grants = append(c.grants, runGrant{grant: g.Grant, apply: apply, secret: secret})
		}
	}
	return c
}

// Apply puts on r, a request to host, the credential of the first grant
// that covers host and applies to r.
func (c *credentials) Apply(host string, r *http.Request) (proxy.Applied, bool, error) {
	for _, g := range c.grants {
		if !g.grant.Covers(host) {
			continue
		}
		applied := proxy.Applied{Grant: g.grant.Name}
		ok, err := g.apply.ApplyRequest(r, g.grant, g.secret)
		if err != nil {
			return applied, true, err
		}
		if ok {
			applied.Secrets = []string{string(g.secret.Reveal())}
			return applied, true, nil
		}
	}
	return proxy.Applied{}, false, nil
}

// Intercept reports whether any grant covers host.
func (c *credentials) Intercept(host string) bool {
	for _, g := range c.grants {
		if g.grant.Covers(host) {
			return true
		}
	}
	return false
}
