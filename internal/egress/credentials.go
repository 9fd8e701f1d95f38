package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/proxy"
)

// renewBefore is how long before an OAuth login's access token expires
// the proxy renews it: a request never goes out with a token about to
// lapse in flight.
const renewBefore = 2 * time.Minute

// credentials answers the proxy's questions from the run's grants.
type credentials struct {
	grants []*runGrant
	// renewer reaches an OAuth login's token endpoint; nil when no grant
	// needs one.
	renewer *http.Client
	logf    func(string, ...any)
	// ruled reports whether network.allow limits the methods or paths of
	// requests to host:port; nil for none. The proxy must then see inside
	// their TLS, grant or no grant.
	ruled func(host string, port int) bool
}

// runGrant is one of the run's grants whose credential goes on HTTPS
// requests, with its kind's applier and its secret, which an OAuth login
// renews during the run.
type runGrant struct {
	grant   grant.Grant
	apply   grant.RequestApplier
	refresh grant.Refresher // nil unless the credential is an OAuth login

	mu     sync.Mutex
	secret grant.Secret
	values []proxy.Sensitive // secret's values on the wire, for the guard
}

// setSecret replaces g's secret; g.mu is held.
func (g *runGrant) setSecret(s grant.Secret) {
	g.secret = s
	g.values = g.values[:0:0]
	for _, v := range grant.Values(g.grant, s) {
		g.values = append(g.values, proxy.Sensitive{Value: v, What: fmt.Sprintf("grant %q", g.grant.Name)})
	}
}

// newCredentials keeps the grants the proxy applies; a grant of another
// channel (bound to a destination outside HTTPS) is not the proxy's.
func newCredentials(gs []GrantSecret, renewer *http.Client, logf func(string, ...any)) *credentials {
	c := &credentials{renewer: renewer, logf: logf}
	for _, g := range gs {
		secret := grant.NewSecret(g.Secret)
		clear(g.Secret)
		if apply, ok := g.Grant.RequestApplier(); ok && !secret.IsZero() {
			rg := &runGrant{grant: g.Grant, apply: apply}
			rg.setSecret(secret)
			rg.refresh, _ = apply.(grant.Refresher)
			c.grants = append(c.grants, rg)
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
		secret := c.current(r.Context(), g)
		ok, err := g.apply.ApplyRequest(r, g.grant, secret)
		if err != nil {
			return applied, true, err
		}
		if ok {
			applied.Secrets = grant.Values(g.grant, secret)
			return applied, true, nil
		}
	}
	return proxy.Applied{}, false, nil
}

// current is g's secret, an OAuth login renewed first when its access
// token is about to expire. A renewal that fails is logged and the old
// token used: the server's answer then tells the agent what went wrong.
func (c *credentials) current(ctx context.Context, g *runGrant) grant.Secret {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refresh == nil || c.renewer == nil {
		return g.secret
	}
	exp := g.refresh.Expires(g.secret)
	if exp.IsZero() || time.Until(exp) > renewBefore {
		return g.secret
	}
	renewed, err := g.refresh.Refresh(ctx, c.renewer, g.secret)
	if err != nil {
		c.logf("moat proxy: grant %s: %v", g.grant.Name, err)
		return g.secret
	}
	g.setSecret(renewed)
	c.logf("moat proxy: grant %s: renewed the access token, which expired at %s", g.grant.Name, exp.UTC().Format(time.RFC3339))
	return g.secret
}

// Intercept reports whether any grant covers host ("name" or
// "name:port"), or network.allow limits the methods or paths there.
func (c *credentials) Intercept(host string) bool {
	for _, g := range c.grants {
		if g.grant.Covers(host) {
			return true
		}
	}
	if c.ruled == nil {
		return false
	}
	name, port := host, 443
	if h, p, err := net.SplitHostPort(host); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil {
			return true // not the proxy's form: see inside rather than not
		}
		name, port = h, n
	}
	return c.ruled(name, port)
}

// Secrets returns every grant's credentials as they travel, as they are
// now.
func (c *credentials) Secrets() []proxy.Sensitive {
	var out []proxy.Sensitive
	for _, g := range c.grants {
		g.mu.Lock()
		out = append(out, g.values...)
		g.mu.Unlock()
	}
	return out
}

// RenewClient is the client moat renews OAuth logins with, in the proxy
// and, before a run, on the host: it resolves names as the proxy does
// (network.hosts, then the system's resolver) and trusts roots, the
// proxy's upstream roots. It is moat's own client, for the fixed token
// endpoints of the run's grant kinds, never the agent's.
func RenewClient(hosts map[string]netip.Addr, roots *x509.CertPool) *http.Client {
	resolve := resolverWith(hosts)
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		var lastErr error = &net.DNSError{Err: "no addresses", Name: host}
		for _, a := range addrs {
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return conn, nil
			}
			lastErr = err
		}
		return nil, lastErr
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Proxy: nil, ForceAttemptHTTP2: true,
	}}
}
