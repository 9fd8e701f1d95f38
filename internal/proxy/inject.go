package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

// target is where a request goes: scheme, canonical host and port.
type target struct {
	scheme string
	host   string
	port   int
}

// authority is host[:port] for a URL, without the scheme's default port.
func (t target) authority() string {
	if (t.scheme == "http" && t.port == 80) || (t.scheme == "https" && t.port == 443) {
		if ip := net.ParseIP(t.host); ip != nil && ip.To4() == nil {
			return "[" + t.host + "]"
		}
		return t.host
	}
	return net.JoinHostPort(t.host, strconv.Itoa(t.port))
}

// exchange is one forwarded request's state, shared by forward and the
// ReverseProxy hooks through the request context.
type exchange struct {
	target  target
	needles *needleSet // the injected secrets' forms, to keep out of the response
	ev      Event
	out     atomic.Int64    // request body bytes read from the agent
	cw      *countingWriter // the agent's response writer
	once    sync.Once       // emits ev
	// applyErr is why the credential could not be put on the request;
	// credentialCheck then fails it instead of sending it.
	applyErr error
	// guardErr is a placeholder or credential found where it may not go
	// (guard.go): the request is refused, or cut off if already sent.
	guardErr *guardRefusal
}

type exchangeKey struct{}

func exchangeOf(r *http.Request) *exchange {
	x, _ := r.Context().Value(exchangeKey{}).(*exchange)
	return x
}

// forward checks t against the policy, then sends r there through the
// shared ReverseProxy (injecting credentials in Rewrite) and records one
// Event.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, t target) {
	x := &exchange{target: t, ev: Event{
		Time: time.Now(), Method: r.Method, Scheme: t.scheme,
		Host: t.authority(), Path: r.URL.Path,
	}}
	if x.ev.Path == "" {
		x.ev.Path = "/"
	}
	if d := s.checkHost(t.host, t.port); !d.Allowed {
		writeDeny(w, d)
		x.ev.Status, x.ev.Decision = policy.DenyStatus, denyDecision(d)
		x.ev.Duration = time.Since(x.ev.Time)
		s.emit(x.ev)
		return
	}
	x.ev.Decision = "allow"
	if d := s.checkRequest(r, t); !d.Allowed {
		writeDeny(w, d)
		x.ev.Status, x.ev.Decision = policy.DenyStatus, denyDecision(d)
		x.ev.Duration = time.Since(x.ev.Time)
		s.emit(x.ev)
		return
	}
	// What the agent sent must hold none of the run's credentials.
	secrets := s.secretSets()
	if e := s.findInRequest(r, t.authority(), secrets); e != nil {
		s.refuseRequest(w, x, e)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		if sets := append(secrets, s.placeholderSets()...); len(sets) > 0 {
			if e := s.guardSmallBody(r, t, sets); e != nil {
				s.refuseRequest(w, x, e)
				return
			}
			r.Body = &guardBody{body: r.Body, req: r, sets: sets, refused: func(g *guardSet, part string) error {
				x.guardErr = s.refusal(g, t.authority(), part)
				return x.guardErr
			}}
		}
		if s.GitPush != nil && isReceivePack(r) && s.checkPush(w, r, x) {
			return
		}
		r.Body = &countingBody{ReadCloser: r.Body, n: &x.out}
	}
	cork, _ := r.Context().Value(corkKey{}).(*corkConn)
	if cork != nil {
		w = &corkingWriter{ResponseWriter: w, c: cork}
		defer cork.uncork()
	}
	x.cw = &countingWriter{ResponseWriter: w, want: -1}
	// A body of known length is recorded once its last byte is written,
	// before the flush that lets the agent see it: the agent's next
	// request, and its event, come after.
	x.cw.complete = func() { s.record(x) }
	cw := x.cw
	defer func() {
		p := recover()
		if p != nil && x.ev.Err == "" {
			x.ev.Err = fmt.Sprint("aborted: ", p)
		}
		s.record(x)
		if p != nil {
			panic(p) // http.ErrAbortHandler: the response was cut short
		}
	}()
	s.rp.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
}

// checkRequest applies the checks on the request itself: the methods
// refused everywhere, then the host's methods and paths in network.allow,
// on the request-target the server will see (ReverseProxy sends r.URL's),
// built only for a host that has them.
func (s *Server) checkRequest(r *http.Request, t target) policy.Decision {
	d := policy.CheckMethod(r.Method)
	if d.Allowed && s.Policy != nil && s.Policy.HasRequestRules(t.host, t.port) {
		d = s.Policy.CheckRequest(t.host, t.port, r.Method, r.URL.RequestURI(), strings.Join(r.Header.Values("Upgrade"), ", "))
	}
	return d
}

// refuseRequest answers a request the guard refused before sending it.
func (s *Server) refuseRequest(w http.ResponseWriter, x *exchange, e *guardRefusal) {
	writeDeny(w, e.d)
	x.ev.Status, x.ev.Decision, x.ev.Err = policy.DenyStatus, denyDecision(e.d), e.Error()
	x.ev.Path = e.redact(x.ev.Path)
	x.ev.Duration = time.Since(x.ev.Time)
	s.logf("moat proxy: %s %s: refused: %v", x.ev.Method, x.target.authority(), e)
	s.emit(x.ev)
}

// record emits x's event, once: when the body of known length is complete,
// or when the handler ends.
func (s *Server) record(x *exchange) {
	x.once.Do(func() {
		if x.cw.status != 0 {
			x.ev.Status = x.cw.status
		}
		x.ev.Duration = time.Since(x.ev.Time)
		x.ev.BytesIn, x.ev.BytesOut = x.cw.n, x.out.Load()
		s.emit(x.ev)
	})
}

// rewrite points the outgoing request at its target and, for requests
// inside an intercepted TLS tunnel, has Credentials put the grant's
// credential on it. ReverseProxy has already removed hop-by-hop headers,
// Proxy-Authorization among them.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	x := exchangeOf(pr.In)
	out := pr.Out
	out.URL.Scheme = x.target.scheme
	out.URL.Host = x.target.authority()
	out.URL.User = nil
	out.Host = ""
	out.Header.Del("Proxy-Authorization")
	// Once the credential is on it (or not), the request as it will leave
	// must hold no placeholder.
	defer func() {
		if x.applyErr == nil {
			// The request as it will leave must hold no placeholder.
			x.guardErr = s.findInRequest(out, x.target.authority(), s.placeholderSets())
		}
	}()
	// Credentials travel only inside TLS: a plain http:// request would
	// carry them across the network in the clear.
	if s.Credentials == nil || x.target.scheme != "https" {
		return
	}
	applied, ok, err := s.Credentials.Apply(x.target.authority(), out)
	if err != nil {
		x.ev.Grant, x.applyErr = applied.Grant, &applyError{grant: applied.Grant, err: err}
		return
	}
	if !ok {
		return
	}
	x.ev.Grant = applied.Grant
	x.needles = s.echoNeedles(applied.Secrets)
	if !x.needles.empty() {
		// The transport asks for gzip and decodes it itself, so the guard
		// reads the body as the agent will.
		out.Header.Del("Accept-Encoding")
	}
}

// applyError is a credential that could not be put on a request.
type applyError struct {
	grant string
	err   error
}

func (e *applyError) Error() string {
	if e.grant == "" {
		return "applying the credential: " + e.err.Error()
	}
	return fmt.Sprintf("applying grant %q: %v", e.grant, e.err)
}

func (e *applyError) Unwrap() error { return e.err }

// credentialCheck fails a request whose credential could not be applied
// (Rewrite cannot), before it is sent; errorHandler answers it.
type credentialCheck struct{ http.RoundTripper }

func (c credentialCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if x := exchangeOf(r); x != nil && (x.applyErr != nil || x.guardErr != nil) {
		if r.Body != nil {
			r.Body.Close()
		}
		if x.guardErr != nil {
			return nil, x.guardErr
		}
		return nil, x.applyErr
	}
	return c.RoundTripper.RoundTrip(r)
}

// modifyResponse keeps the upstream status, which a 101 upgrade never
// writes through the ResponseWriter.
func (s *Server) modifyResponse(res *http.Response) error {
	if x := exchangeOf(res.Request); x != nil {
		if err := s.guardResponse(x, res); err != nil {
			return err
		}
		x.ev.Status = res.StatusCode
		if res.ContentLength > 0 && res.Request.Method != http.MethodHead {
			x.cw.want = res.ContentLength
		}
	}
	// A 101's body is the upgraded connection, which ReverseProxy writes to.
	if cork, ok := res.Request.Context().Value(corkKey{}).(*corkConn); ok && res.Body != nil && res.StatusCode != http.StatusSwitchingProtocols {
		res.Body = &uncorkingBody{ReadCloser: res.Body, c: cork}
	}
	return nil
}

// errorHandler answers a request that could not be forwarded: DenyStatus
// if the resolved address was refused, else 502.
func (s *Server) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeOf(r)
	if x.guardErr != nil { // whatever the transport made of the body's failure
		s.logf("moat proxy: %s %s: refused: %v", r.Method, x.target.authority(), x.guardErr)
		x.ev.Decision, x.ev.Err = denyDecision(x.guardErr.d), x.guardErr.Error()
		x.ev.Path = x.guardErr.redact(x.ev.Path)
		writeDeny(w, x.guardErr.d)
		return
	}
	var blocked *blockedError
	if errors.As(err, &blocked) {
		x.ev.Decision = denyDecision(blocked.d)
		writeDeny(w, blocked.d)
		return
	}
	var echo *echoError
	if errors.As(err, &echo) {
		x.ev.Decision, x.ev.Err = denyDecision(echo.d), echo.Error()
		writeDenyStatus(w, echo.d, http.StatusBadGateway)
		return
	}
	x.ev.Err = err.Error()
	if !errors.Is(err, context.Canceled) {
		s.logf("moat proxy: %s %s://%s%s: %v", r.Method, x.target.scheme, x.target.authority(), x.ev.Path, err)
	}
	msg := "moat proxy: could not reach " + x.target.authority() + ": " + err.Error() + "\n"
	if errors.As(err, new(*applyError)) {
		msg = "moat proxy: " + err.Error() + "\n" // the request was never sent
	} else if errors.As(err, new(*tls.CertificateVerificationError)) {
		msg += "The proxy opens the agent's TLS to see and check every request, so it must trust the server itself: " +
			"add the server's CA to network.ca in agent.yaml, or, if the agent's client pins this server's certificate, " +
			"add the host to network.tunnel-only (its requests are then not checked).\n"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, msg)
}
