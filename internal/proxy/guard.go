package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/moatsh/moat/internal/policy"
)

// The agent holds placeholders, never credentials: the proxy puts the real
// credential on a request to a grant's host, in the place its kind sends
// it, replacing the placeholder. A placeholder anywhere else in a request
// (another header, the URL, the body, a request to another host) would go
// upstream as is, where at best it fails and at worst it is logged by a
// server the user never granted anything to; a real credential of the run
// in a request the agent wrote means the agent got hold of one. The guard
// refuses both, in every form the echo guard knows (as is, URL-encoded,
// base64), in every request the proxy sees: intercepted, plain HTTP, and
// the plain-text bytes of a blind tunnel. Only TLS the proxy does not open
// (tunnel-only hosts) goes unread.

// Sensitive is a value the guard keeps off the wire, with what it is, for
// the refusal ("the placeholder of ANTHROPIC_API_KEY (grant anthropic)").
type Sensitive struct {
	Value string
	What  string
}

// guardSet is the forms of one sensitive value.
type guardSet struct {
	*needleSet
	what        string
	placeholder bool
}

// guardRefusal is a request or stream the guard stopped, for the value of
// set.
type guardRefusal struct {
	d   policy.Decision
	set *guardSet
}

// redact returns s, a request's path for its event, with every form of
// the value replaced: the audit log records paths, and must not record a
// credential the agent put in one.
func (e *guardRefusal) redact(s string) string {
	for _, f := range e.set.s {
		s = strings.ReplaceAll(s, f, "[REDACTED]")
	}
	return s
}

func (e *guardRefusal) Error() string { return e.d.Rule }

func (s *Server) refusal(g *guardSet, host, part string) *guardRefusal {
	if g.placeholder {
		return &guardRefusal{set: g, d: policy.Decision{
			Rule: fmt.Sprintf("the request to %s carried the placeholder of %s in its %s, where moat does not replace it with the credential", host, g.what, part),
			Hint: "send the placeholder only where the grant's client sends it, to the grant's hosts (moat then puts the credential there); it is not a credential anywhere else",
		}}
	}
	return &guardRefusal{set: g, d: policy.Decision{
		Rule: fmt.Sprintf("the request to %s carried the credential of %s in its %s; the agent is never given it, so moat stopped it", host, g.what, part),
	}}
}

// placeholderSets returns the forms of the run's placeholders, made once.
func (s *Server) placeholderSets() []*guardSet {
	s.placeholderOnce.Do(func() {
		for _, p := range s.Placeholders {
			if forms := secretForms(p.Value); len(forms) > 0 {
				s.placeholders = append(s.placeholders, &guardSet{newNeedleSet(forms), p.What, true})
			}
		}
	})
	return s.placeholders
}

// secretSets returns the forms of the run's credentials as they are now
// (an OAuth login's token changes when renewed), cached per value.
func (s *Server) secretSets() []*guardSet {
	if s.Credentials == nil {
		return nil
	}
	secrets := s.Credentials.Secrets()
	sets := make([]*guardSet, 0, len(secrets))
	for _, sec := range secrets {
		if sec.Value == "" {
			continue
		}
		if v, ok := s.guardSets.Load(sec.Value); ok {
			sets = append(sets, v.(*guardSet))
			continue
		}
		g := &guardSet{newNeedleSet(secretForms(sec.Value)), sec.What, false}
		s.guardSets.Store(sec.Value, g)
		sets = append(sets, g)
	}
	return sets
}

// findInHeader returns the set one of whose forms h holds (in a name, in
// any case, or a value), and the header's name, or nil.
func findInHeader(h http.Header, sets []*guardSet) (*guardSet, string) {
	for _, g := range sets {
		if part := headerEcho(h, g.needleSet); part != "" {
			if part == "name" {
				part = "header names"
			} else {
				part = "header " + part
			}
			return g, part
		}
	}
	return nil, ""
}

// findInURL returns the set one of whose forms the request's URL holds.
func findInURL(r *http.Request, sets []*guardSet) *guardSet {
	target := r.URL.RequestURI()
	if r.URL.User != nil {
		target += " " + r.URL.User.String()
	}
	for _, g := range sets {
		if len(target) >= g.shortest && containsAny(target, g.s) {
			return g
		}
	}
	return nil
}

// findInRequest refuses r if its headers or URL hold one of sets' values
// (the body is guardBody's).
func (s *Server) findInRequest(r *http.Request, host string, sets []*guardSet) *guardRefusal {
	if len(sets) == 0 {
		return nil
	}
	if g, part := findInHeader(r.Header, sets); g != nil {
		return s.refusal(g, host, part)
	}
	if g := findInURL(r, sets); g != nil {
		return s.refusal(g, host, "URL")
	}
	return nil
}

// smallBody is the largest request body of known length the guard reads
// whole before sending the request, so that a refused one sends nothing
// at all. A larger or streamed body is checked as it goes, and cut off.
const smallBody = 64 << 10

// guardSmallBody reads a small body of known length whole and checks it,
// putting an equivalent body back on r.
func (s *Server) guardSmallBody(r *http.Request, t target, sets []*guardSet) *guardRefusal {
	if r.ContentLength <= 0 || r.ContentLength > smallBody {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength))
	r.Body.Close()
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
	if g := findInBytes(b, sets); g != nil {
		return s.refusal(g, t.authority(), "body")
	}
	return nil
}

// errReader returns err, or io.EOF if it is nil.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// guardBody reads a request body on its way upstream and fails, sending
// nothing of the value, if it holds a placeholder or a credential; at its
// end it checks the trailers. A value can straddle two reads: the bytes at
// the end of a read that begin one are held back until the next read
// tells.
type guardBody struct {
	body    io.ReadCloser
	req     *http.Request // for its trailers
	sets    []*guardSet
	refused func(g *guardSet, part string) error

	buf   []byte // what ready and held point into, reused
	held  []byte
	ready []byte
	err   error
}

func (b *guardBody) Close() error { return b.body.Close() }

func (b *guardBody) Read(p []byte) (int, error) {
	if len(b.ready) > 0 {
		n := copy(p, b.ready)
		b.ready = b.ready[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	need := max(len(p), 4096) + len(b.held)
	if cap(b.buf) < need {
		b.buf = make([]byte, need)
	}
	buf := b.buf[:need]
	h := copy(buf, b.held)
	n, err := b.body.Read(buf[h:])
	win := buf[:h+n]
	if g := findInBytes(win, b.sets); g != nil {
		b.held, b.err = nil, b.refused(g, "body")
		return 0, b.err
	}
	keep := 0
	if err == nil {
		keep = partialSets(win, b.sets)
	} else if errors.Is(err, io.EOF) && b.req != nil {
		if g, part := findInHeader(b.req.Trailer, b.sets); g != nil {
			b.held, b.err = nil, b.refused(g, "trailer "+strings.TrimPrefix(part, "header "))
			return 0, b.err
		}
	}
	// held gets its own copy: the next read fills buf from its start.
	b.held = append(b.held[:0:0], win[len(win)-keep:]...)
	b.ready, b.err = win[:len(win)-keep], err
	if len(b.ready) == 0 && err != nil {
		return 0, err
	}
	return b.Read(p)
}

func findInBytes(b []byte, sets []*guardSet) *guardSet {
	for _, g := range sets {
		if len(b) < g.shortest {
			continue
		}
		for _, nd := range g.b {
			if bytes.Contains(b, nd) {
				return g
			}
		}
	}
	return nil
}

func partialSets(win []byte, sets []*guardSet) int {
	longest := 0
	for _, g := range sets {
		longest = partialNeedle(win, g.b, longest)
	}
	return longest
}

// streamGuard is the upstream half of a blind tunnel that is not TLS: the
// agent's bytes are written through it, and a placeholder or credential
// among them closes the tunnel before any of its bytes leave.
type streamGuard struct {
	net.Conn
	sets    []*guardSet
	host    string
	s       *Server
	held    []byte
	refusal *guardRefusal
}

// newStreamGuard returns a guard writing to upstream, or nil when the run
// has nothing to guard.
func (s *Server) newStreamGuard(upstream net.Conn, t target) *streamGuard {
	sets := append(s.secretSets(), s.placeholderSets()...)
	if len(sets) == 0 {
		return nil
	}
	return &streamGuard{Conn: upstream, sets: sets, host: t.authority(), s: s}
}

var errGuardStopped = errors.New("the guard stopped the tunnel")

func (g *streamGuard) Write(p []byte) (int, error) {
	if g.refusal != nil {
		return 0, errGuardStopped
	}
	win := append(g.held, p...)
	if set := findInBytes(win, g.sets); set != nil {
		g.refusal = g.s.refusal(set, g.host, "tunnelled bytes")
		g.held = nil
		return 0, g.refusal
	}
	keep := partialSets(win, g.sets)
	if _, err := g.Conn.Write(win[:len(win)-keep]); err != nil {
		return 0, err
	}
	g.held = append([]byte(nil), win[len(win)-keep:]...)
	return len(p), nil
}

// CloseWrite sends what was held (at the end it cannot become a value),
// then half-closes.
func (g *streamGuard) CloseWrite() error {
	if g.refusal == nil && len(g.held) > 0 {
		if _, err := g.Conn.Write(g.held); err != nil {
			return err
		}
		g.held = nil
	}
	return closeWrite(g.Conn)
}
