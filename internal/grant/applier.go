package grant

import (
	"encoding/base64"
	"net/http"
)

// Applier is how a kind's credential is used: the Apply of its entry in
// the kinds table.
//
// The run's proxy applies a kind whose Applier is also a RequestApplier to
// the requests it intercepts over TLS on the grant's hosts: HeaderApplier
// sets one header; a request signer (AWS SigV4) hashes the body and sets
// several. A kind bound to a destination outside HTTPS (an SSH key valid
// for one host) has an Applier of its own channel: the proxy neither
// intercepts nor injects for it, and the part of moat that serves that
// channel picks the run's grants whose Channel is its own.
type Applier interface {
	// Channel names what carries the credential: ChannelHTTPS, or the
	// channel of a kind bound to a destination outside HTTPS.
	Channel() string
}

// ChannelHTTPS is the Channel of every RequestApplier: the credential goes
// on HTTPS requests, through the proxy.
const ChannelHTTPS = "https"

// RequestApplier is an Applier that puts the credential on HTTPS requests.
type RequestApplier interface {
	Applier
	// ApplyRequest puts secret on r, a request to one of g's hosts as it
	// goes upstream (its URL and headers final, its body unread), and
	// reports whether it did: a kind may leave some requests on its hosts
	// alone (github's web UI). It may set headers, and read r.Body if it
	// puts an equivalent body back (a signer hashes it). An error fails
	// the request and must not contain the secret.
	ApplyRequest(r *http.Request, g Grant, secret Secret) (bool, error)
}

// HeaderApplier sets one header to Prefix followed by the secret,
// replacing whatever the agent sent.
type HeaderApplier struct {
	Header string // canonical name; "" means the grant's own Header (http)
	Prefix string // put before the secret, as "Bearer "
}

func (HeaderApplier) Channel() string { return ChannelHTTPS }

// HeaderName is the header set, for 'moat grant list'.
func (a HeaderApplier) HeaderName() string { return a.Header }

func (a HeaderApplier) ApplyRequest(r *http.Request, g Grant, secret Secret) (bool, error) {
	name := a.Header
	if name == "" {
		name = g.Header
	}
	if name == "" {
		return false, nil
	}
	r.Header.Set(name, a.Prefix+string(secret.p.b))
	return true, nil
}

// githubApplier sends "Authorization: Bearer <token>" to the API and, on
// github.com, Basic auth "x-access-token:<token>" to git smart-HTTP and
// LFS requests only, so the web UI never sees the token (see isGitHTTP).
type githubApplier struct{}

func (githubApplier) Channel() string    { return ChannelHTTPS }
func (githubApplier) HeaderName() string { return "Authorization" }

func (githubApplier) ApplyRequest(r *http.Request, _ Grant, secret Secret) (bool, error) {
	if hostName(r.URL.Host) != "github.com" {
		r.Header.Set("Authorization", "Bearer "+string(secret.p.b))
		return true, nil
	}
	if !isGitHTTP(shapeOf(r)) {
		return false, nil
	}
	cred := append([]byte("x-access-token:"), secret.p.b...)
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(cred))
	return true, nil
}
