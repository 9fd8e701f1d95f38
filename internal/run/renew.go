package run

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/grant"
)

// renewAhead is how close to its expiry an OAuth login's access token is
// renewed before a run starts. moat renews on the host, where the renewed
// login (and the refresh token the server rotated to) is stored again; the
// proxy renews only what expires during a run, and keeps it for that run.
const renewAhead = 24 * time.Hour

// GrantSaver is a GrantSource that can store a grant again: a login
// renewed before a run is saved, so the rotated refresh token is not lost.
type GrantSaver interface {
	Put(g grant.Grant, secret grant.Secret) error
}

// LoginExpiredError reports a grant whose OAuth login has expired and
// could not be renewed.
type LoginExpiredError struct {
	Grant string
	Err   error
}

func (e *LoginExpiredError) Error() string {
	return fmt.Sprintf("grant %s: the login has expired and could not be renewed: %v", e.Grant, e.Err)
}

func (e *LoginExpiredError) Unwrap() error { return e.Err }

func (e *LoginExpiredError) Hint() string {
	return fmt.Sprintf("Sign in again and store the login anew: 'moat grant %s'.", e.Grant)
}

// renewLogins renews, on the host, each of the run's OAuth logins whose
// access token expires within renewAhead, and stores the renewed login.
// The token endpoint is reached as the proxy would reach it: names that
// network.hosts maps go to their address, and the run's upstream roots
// (the system's and network.ca) are trusted.
func (m *Manager) renewLogins(p *plan, e *egressPlan) error {
	var client *http.Client
	for i, gs := range e.grants {
		apply, _ := gs.Grant.RequestApplier()
		r, ok := apply.(grant.Refresher)
		if !ok {
			continue
		}
		secret := grant.NewSecret(gs.Secret)
		exp := r.Expires(secret)
		if exp.IsZero() || time.Until(exp) > renewAhead {
			continue
		}
		if client == nil {
			client = renewClient(p, e.upstreamRoots)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		renewed, err := r.Refresh(ctx, client, secret)
		cancel()
		if err != nil {
			if time.Until(exp) > 0 {
				m.warnf("grant %s: renewing the login, which expires at %s: %v; the proxy will try again during the run",
					gs.Grant.Name, exp.Local().Format(time.Kitchen), err)
				continue
			}
			return &LoginExpiredError{Grant: gs.Grant.Name, Err: err}
		}
		if saver, ok := m.Grants.(GrantSaver); ok {
			if err := saver.Put(gs.Grant, renewed); err != nil {
				return fmt.Errorf("grant %s: storing the renewed login: %w", gs.Grant.Name, err)
			}
		}
		e.grants[i].Secret = renewed.Reveal()
	}
	return nil
}

// renewClient is the client renewLogins reaches token endpoints with, the
// proxy's: network.hosts's names go to their address, and the system's
// roots and network.ca are trusted.
func renewClient(p *plan, upstreamRoots []byte) *http.Client {
	hosts := map[string]netip.Addr{}
	for _, h := range p.cfg.Network.Hosts {
		hosts[h.Host] = h.Addr
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	roots.AppendCertsFromPEM(upstreamRoots)
	return egress.RenewClient(hosts, roots)
}
