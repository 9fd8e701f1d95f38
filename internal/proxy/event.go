package proxy

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Event records one request through the proxy: a plain HTTP request, a
// request inside an intercepted CONNECT tunnel, a blind tunnel (Method
// CONNECT, Scheme "tunnel", when it ends) or a CONNECT refused before any
// request (Method CONNECT). It never holds header values, so the secrets
// the proxy injects do not appear in it.
type Event struct {
	Time     time.Time     // when the request arrived
	Method   string        // GET, POST, CONNECT, ...
	Scheme   string        // "http", "https" (intercepted) or "tunnel" (blind)
	Host     string        // host, with the port if it is not the scheme's default
	Path     string        // URL path, without the query
	Status   int           // status sent to the agent; 0 if none was
	Duration time.Duration // until the response (or tunnel) ended
	BytesIn  int64         // body bytes from upstream to the agent
	BytesOut int64         // body bytes from the agent to upstream
	Grant    string        // the grant whose credentials were injected, if any
	Decision string        // "allow" or "deny: " and the policy's reason
	Err      string        // what went wrong forwarding, if anything
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// countingWriter counts the body bytes written to the agent and keeps the
// status. Flush and Hijack reach the underlying writer through Unwrap (see
// http.ResponseController).
type countingWriter struct {
	http.ResponseWriter
	status   int
	n        int64
	want     int64  // the body's length, if known; else -1
	complete func() // called once n reaches want
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 || w.status < 200 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if w.n == w.want && w.complete != nil {
		w.complete()
	}
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
