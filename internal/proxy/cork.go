package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
)

// corkConn is the agent's connection as the proxy writes to it: under the
// HTTP server for plain requests (corkListener), and under the TLS session
// of an intercepted tunnel. While corked, it gathers what is written (for a
// tunnel, the TLS records of one body write: the chunk header, the data and
// the chunk's end) and sends it in one write when uncorked. On loopback each write to the socket costs a wakeup of
// the reader; a streamed body otherwise takes three per upstream read.
//
// The response's writer corks on each body write and uncorks on Flush, at
// the end of the response, and before every read of the upstream body
// (uncorkingBody), so nothing waits in the buffer while the proxy waits for
// upstream: corking changes how many writes carry the bytes, never when
// they leave.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
	err    error // of the last uncork, returned by the next Write
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what was gathered. A failure is kept for the next Write.
func (c *corkConn) uncork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 || c.err != nil {
		c.buf = c.buf[:0]
		return
	}
	_, c.err = c.Conn.Write(c.buf)
	if cap(c.buf) > maxCorkBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
}

// corkListener makes every connection it accepts a corkConn.
type corkListener struct{ net.Listener }

func (l corkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &corkConn{Conn: c}, nil
}

type corkKey struct{}

// corkContext gives the requests on c its corkConn.
func corkContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*corkConn); ok {
		return context.WithValue(ctx, corkKey{}, cc)
	}
	return ctx
}

// uncorked returns the connection under c, for a blind tunnel (which
// copies with splice) or a TLS session that corks on its own.
func uncorked(c net.Conn) net.Conn {
	if cc, ok := c.(*corkConn); ok {
		return cc.Conn
	}
	return c
}

// maxCorkBuffer bounds the buffer a connection keeps between responses.
const maxCorkBuffer = 128 << 10

func (c *corkConn) Close() error {
	c.uncork()
	return c.Conn.Close()
}

func (c *corkConn) CloseWrite() error {
	c.uncork()
	return closeWrite(c.Conn)
}

// uncorkingBody is an upstream response body that uncorks the agent's
// connection before each read, which may wait for upstream.
type uncorkingBody struct {
	io.ReadCloser
	c *corkConn
}

func (b *uncorkingBody) Read(p []byte) (int, error) {
	b.c.uncork()
	return b.ReadCloser.Read(p)
}

// corkingWriter corks the agent's connection for each body write and
// uncorks it on Flush.
type corkingWriter struct {
	http.ResponseWriter
	c *corkConn
}

func (w *corkingWriter) Write(p []byte) (int, error) {
	w.c.cork()
	return w.ResponseWriter.Write(p)
}

func (w *corkingWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	w.c.uncork()
	return err
}

func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
