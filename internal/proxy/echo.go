package proxy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/moatsh/moat/internal/policy"
)

// A response to a request the proxy injected a credential into must never
// carry that credential back to the agent: an upstream that echoes the
// request (a debugging endpoint, an error message quoting the key) would
// hand the agent what the proxy keeps from it. guardResponse checks the
// headers, and an echoGuard reads the body: both look for every form of
// the secrets the agent could decode (echoNeedles).

// echoError is a response refused because it carries an injected secret.
type echoError struct {
	d   policy.Decision
	msg string
}

func (e *echoError) Error() string { return e.msg }

func echoDecision(host string) policy.Decision {
	return policy.Decision{Rule: fmt.Sprintf("the response from %s carried the credential moat injected; moat cut it off", host)}
}

// needleSet holds the forms of the secrets to look for, as bytes for
// bodies and as strings for headers (so neither search converts, which
// would allocate per header and per read), and the shortest form's length:
// a header name or value shorter than it holds none.
type needleSet struct {
	b        [][]byte
	s        []string
	shortest int
}

func (n *needleSet) empty() bool { return n == nil || len(n.b) == 0 }

func newNeedleSet(forms [][]byte) *needleSet {
	n := &needleSet{b: forms, shortest: -1}
	for _, f := range forms {
		n.s = append(n.s, string(f))
		if n.shortest < 0 || len(f) < n.shortest {
			n.shortest = len(f)
		}
	}
	return n
}

// echoNeedles returns the forms of secrets to look for, cached per secret:
// as is, URL-encoded, and the base64 (standard and URL alphabets) of the
// secret at each of the three offsets it can have in a longer encoded
// string (such as "Basic " + base64("user:" + secret)), without the
// characters its neighbours change. One secret, the usual case, costs a
// map lookup and nothing else.
func (s *Server) echoNeedles(secrets []string) *needleSet {
	sets := make([]*needleSet, 0, 1)
	for _, sec := range secrets {
		if v, ok := s.needles.Load(sec); ok {
			sets = append(sets, v.(*needleSet))
			continue
		}
		n := newNeedleSet(secretForms(sec))
		s.needles.Store(sec, n)
		sets = append(sets, n)
	}
	switch len(sets) {
	case 0:
		return nil
	case 1:
		return sets[0]
	}
	var all [][]byte
	for _, n := range sets {
		all = append(all, n.b...)
	}
	return newNeedleSet(all)
}

// minEncodedNeedle is the shortest base64 core worth looking for: shorter
// ones would match innocent text.
const minEncodedNeedle = 8

func secretForms(secret string) [][]byte {
	if secret == "" {
		return nil
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for pad := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			b := enc.EncodeToString(append(make([]byte, pad), secret...))
			// The first block holds padding bytes when pad > 0; the last,
			// unless complete, depends on what follows the secret.
			start := 0
			if pad > 0 {
				start = 4
			}
			end := (pad + len(secret)) / 3 * 4
			if end-start >= minEncodedNeedle {
				forms = append(forms, b[start:end])
			}
		}
	}
	var out [][]byte
	for _, f := range forms {
		dup := false
		for _, o := range out {
			if string(o) == f {
				dup = true
			}
		}
		if !dup {
			out = append(out, []byte(f))
		}
	}
	return out
}

// guardResponse refuses a response whose headers carry one of x's needles
// or whose body the proxy cannot read as the agent will (an encoding the
// transport did not decode), and puts an echoGuard on its body.
func (s *Server) guardResponse(x *exchange, res *http.Response) error {
	if x.needles.empty() {
		return nil
	}
	if part := headerEcho(res.Header, x.needles); part != "" {
		return s.echoRefused(x, "header "+part)
	}
	if ce := res.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		d := policy.Decision{Rule: fmt.Sprintf("the response from %s is encoded (%q), so moat cannot check it for the credential it injected", x.target.authority(), ce)}
		x.ev.Decision = denyDecision(d)
		return &echoError{d: d, msg: fmt.Sprintf("the response is encoded (%q) and cannot be checked for the credential", ce)}
	}
	if res.Body != nil && res.Body != http.NoBody && res.StatusCode != http.StatusSwitchingProtocols {
		res.Body = &echoGuard{body: res.Body, needles: x.needles, res: res, refused: func(part string) error {
			return s.echoRefused(x, part)
		}}
	}
	return nil
}

// echoRefused records that x's response carried a needle in part.
func (s *Server) echoRefused(x *exchange, part string) error {
	e := &echoError{d: echoDecision(x.target.authority()), msg: "the response's " + part + " carried the credential the proxy injected"}
	x.ev.Decision, x.ev.Err = denyDecision(e.d), e.Error()
	s.logf("moat proxy: %s %s: %v", x.ev.Method, x.target.authority(), e)
	return e
}

// headerEcho returns the name of the first header whose name (in any
// case: names are case-insensitive, and servers change their case) or
// value holds a needle, or "".
func headerEcho(h http.Header, needles *needleSet) string {
	for k, vs := range h {
		if len(k) >= needles.shortest {
			for _, n := range needles.s {
				if containsFold(k, n) {
					return "name"
				}
			}
		}
		for _, v := range vs {
			if len(v) >= needles.shortest && containsAny(v, needles.s) {
				return k
			}
		}
	}
	return ""
}

func containsAny(s string, needles []string) bool {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return true
		}
	}
	return false
}

// containsFold reports whether s holds sub in any ASCII case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// echoGuard reads an upstream body and fails, delivering nothing of the
// needle, if it holds one. A needle can straddle two reads, so the bytes
// at the end of a read that begin some needle are held back until the
// next read tells (or the body ends): a streamed body is delivered as it
// comes, but for those few bytes, which in practice (a needle's first
// bytes at the very end of a read) are rare.
type echoGuard struct {
	body    io.ReadCloser
	needles *needleSet
	res     *http.Response // for its trailers, read at the end
	refused func(part string) error

	held  []byte // read, not delivered: a possible start of a needle
	ready []byte // cleared, not yet delivered (p was too small)
	err   error  // returned once ready is empty
}

func (g *echoGuard) Close() error { return g.body.Close() }

func (g *echoGuard) Read(p []byte) (int, error) {
	if len(g.ready) > 0 {
		n := copy(p, g.ready)
		g.ready = g.ready[n:]
		return n, nil
	}
	if g.err != nil {
		return 0, g.err
	}
	if len(p) <= 2*len(g.held)+64 {
		// Too small to read into after the held bytes: read through a
		// buffer of our own, then deliver from ready.
		buf := make([]byte, 4096+len(g.held))
		n, err := g.fill(buf)
		g.ready, g.err = buf[:n], err
		if n == 0 {
			return 0, err
		}
		return g.Read(p)
	}
	return g.fill(p)
}

// fill reads into p after the held bytes, checks what it has, and returns
// how much of p may go to the agent.
func (g *echoGuard) fill(p []byte) (int, error) {
	h := copy(p, g.held)
	n, err := g.body.Read(p[h:])
	win := p[:h+n]
	for _, nd := range g.needles.b {
		if bytes.Contains(win, nd) {
			clear(p)
			g.held, g.err = nil, g.refused("body")
			return 0, g.err
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			if part := headerEcho(g.res.Trailer, g.needles); part != "" {
				clear(p)
				g.held, g.err = nil, g.refused("trailer "+part)
				return 0, g.err
			}
		}
		// At the end, what is held cannot become a needle; after a
		// failure, it is dropped.
		keep := 0
		if !errors.Is(err, io.EOF) {
			keep = g.partial(win)
		}
		g.held, g.err = nil, err
		return len(win) - keep, err
	}
	keep := g.partial(win)
	g.held = append(g.held[:0], win[len(win)-keep:]...)
	return len(win) - keep, nil
}

// partial returns the length of the longest end of win that is the start
// of a needle.
func (g *echoGuard) partial(win []byte) int { return partialNeedle(win, g.needles.b, 0) }

// partialNeedle returns the length of the longest end of win that is the
// start of one of needles, or longest if that is more.
func partialNeedle(win []byte, needles [][]byte, longest int) int {
	for _, nd := range needles {
		from := max(len(win)-len(nd)+1, 0)
		for i := from; i < len(win) && len(win)-i > longest; i++ {
			if win[i] == nd[0] && bytes.HasPrefix(nd, win[i:]) {
				longest = len(win) - i
				break
			}
		}
	}
	return longest
}
