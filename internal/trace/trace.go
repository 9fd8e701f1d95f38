// Package trace owns a run's network trace: the requests its egress proxy
// recorded in the run's audit log (net.request and net.denied entries) and
// the signatures its SSH agent made or refused (ssh.sign), read back as
// Requests; their rendering as a HAR 1.2 archive whose
// entries name their audit entries; and the check of such an archive,
// which anyone may have edited, against the log.
package trace

import (
	"io"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/audit"
)

// Request is one request through a run's proxy: a plain HTTP request, a
// request inside an intercepted TLS tunnel, a blind tunnel (Method
// CONNECT, Scheme "tunnel") or a CONNECT refused before any request
// (Method CONNECT, no Scheme). It holds no header values or bodies: the
// proxy never records them.
type Request struct {
	Time     time.Time     // when the request arrived
	Method   string        // GET, POST, CONNECT, ...
	Scheme   string        // "http", "https" (intercepted), "tunnel" (blind) or "" (refused CONNECT)
	Host     string        // host, with the port when not the scheme's default
	Path     string        // URL path, without the query
	Status   int           // status sent to the agent; 0 if none was
	Duration time.Duration // until the response, or the tunnel, ended
	BytesIn  int64         // body bytes from upstream to the agent
	BytesOut int64         // body bytes from the agent to upstream
	Grant    string        // the grant whose credential was injected (its name only), if any
	Decision string        // "allow" or "deny: <rule>"
	Error    string        // what went wrong forwarding, if anything
	Denied   bool          // the policy refused it
	Seq      uint64        // the audit entry it was read from: its sequence number
	Hash     string        // and its hash, which links a HAR entry to the log
	// Key is, for an SSH signature (Method MethodSSHSign), the SHA256
	// fingerprint of the granted key the agent was asked to sign with.
	Key string
}

// MethodSSHSign is the Method of an SSH signature the run's SSH agent
// made or refused (Scheme "ssh", Host the host it was for, Decision
// "signed" or "refused: <reason>"): Log.Signatures, never a HAR entry.
const MethodSSHSign = "SSH-SIGN"

// signatureFrom reads an SSH signature from an ssh.sign audit entry.
func signatureFrom(e audit.Entry) Request {
	d := e.Data
	req := Request{Time: e.Time, Method: MethodSSHSign, Scheme: "ssh", Host: d["host"], Grant: d["grant"], Key: d["key"],
		Decision: d["verdict"], Seq: e.Seq, Hash: e.Hash}
	if req.Decision != "signed" {
		req.Denied = true
		req.Decision = "refused: " + d["reason"]
	}
	return req
}

// FromEntry reads a request from a net.request or net.denied audit entry;
// ok is false for entries of any other kind. Missing or garbled numbers
// read as 0, and a missing or garbled time as the entry's own time: a
// damaged field never hides the rest of the request.
func FromEntry(e audit.Entry) (req Request, ok bool) {
	if e.Kind != audit.KindNetRequest && e.Kind != audit.KindNetDenied {
		return Request{}, false
	}
	d := e.Data
	req = Request{
		Time:     e.Time,
		Method:   d[audit.NetMethod],
		Scheme:   d[audit.NetScheme],
		Host:     d[audit.NetHost],
		Path:     d[audit.NetPath],
		Status:   int(number(d[audit.NetStatus], 999)),
		BytesIn:  number(d[audit.NetBytesIn], math.MaxInt64),
		BytesOut: number(d[audit.NetBytesOut], math.MaxInt64),
		Grant:    d[audit.NetGrant],
		Decision: d[audit.NetDecision],
		Error:    d[audit.NetError],
		Seq:      e.Seq,
		Hash:     e.Hash,
	}
	if t, err := time.Parse(time.RFC3339Nano, d[audit.NetTime]); err == nil {
		req.Time = t
	}
	us := number(d[audit.NetDurationUS], math.MaxInt64/int64(time.Microsecond))
	req.Duration = time.Duration(us) * time.Microsecond
	req.Denied = e.Kind == audit.KindNetDenied || strings.HasPrefix(req.Decision, "deny")
	return req, true
}

// number parses a decimal string in [0, limit]; anything else is 0.
func number(s string, limit int64) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > limit {
		return 0
	}
	return n
}

// Tunnel reports whether r is a CONNECT the proxy did not look inside: a
// blind tunnel, or one refused or failed before any request in it.
func (r Request) Tunnel() bool {
	return r.Method == "CONNECT" || r.Scheme == "tunnel"
}

// URL is where the request went. A request the proxy saw (plain, or
// intercepted inside TLS) is an absolute URL: http://host/path or
// https://host/path. A tunnel is its CONNECT target, "host:port" (the
// request line's authority form, port 443 when the log omits it), so a
// trace line reads "CONNECT api.example.com:443": moat saw only bytes.
func (r Request) URL() string {
	if r.Method == MethodSSHSign {
		if r.Host == "" {
			return "-" // refused before any session named a host
		}
		return "ssh://" + r.Host
	}
	if r.Tunnel() {
		return r.authority()
	}
	scheme := r.Scheme
	if scheme == "" {
		scheme = "http" // the proxy always records one; only a damaged log lacks it
	}
	path := r.Path
	if path == "" {
		path = "/"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: path}
	return u.String()
}

// authority is the tunnel's host:port.
func (r Request) authority() string {
	if _, _, err := net.SplitHostPort(r.Host); err == nil {
		return r.Host
	}
	return net.JoinHostPort(strings.Trim(r.Host, "[]"), "443")
}

// Log is what Read finds in a run's audit log.
type Log struct {
	Requests  []Request // in the order they arrived
	Torn      int       // the size of a partial entry at the end, left out
	Truncated []string  // one note per log.truncated entry: requests the log's cap left out
	// Signatures are the SSH signatures the run's SSH agent made or
	// refused (ssh.sign entries), in the log's order.
	Signatures []Request
	// LastSeq and LastHash are the last complete entry's, of any kind:
	// the requests are every request entry up to it, which a HAR states.
	LastSeq  uint64
	LastHash string
}

// Read collects the requests recorded in an audit log, in the order they
// arrived (the log holds them in the order they ended). A partial entry at
// the end (its writer is, or was, in the middle of it) is skipped, and
// Torn is its size. A line that does not parse stops reading with an
// *audit.LineError.
func Read(r io.Reader) (Log, error) {
	var l Log
	ar := audit.NewReader(r)
	for {
		e, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return l, err
		}
		l.LastSeq, l.LastHash = e.Seq, e.Hash
		if req, ok := FromEntry(e); ok {
			l.Requests = append(l.Requests, req)
		} else if e.Kind == audit.KindSSHSign {
			l.Signatures = append(l.Signatures, signatureFrom(e))
		} else if e.Kind == audit.KindLogTruncated {
			l.Truncated = append(l.Truncated, audit.TruncationNote(e))
		}
	}
	sortByArrival(l.Requests)
	l.Torn = ar.TornBytes()
	return l, nil
}

// All is the requests and the SSH signatures together, in the order they
// arrived: what a trace shows.
func (l Log) All() []Request {
	all := append(append([]Request(nil), l.Requests...), l.Signatures...)
	sortByArrival(all)
	return all
}

// sortByArrival puts requests in the order they arrived, those that
// arrived at the same instant in the log's order: the order of a trace
// and of a HAR, which verification checks.
func sortByArrival(reqs []Request) {
	sort.SliceStable(reqs, func(i, j int) bool { return arrivesBefore(reqs[i], reqs[j]) })
}

func arrivesBefore(a, b Request) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.Seq < b.Seq
}
