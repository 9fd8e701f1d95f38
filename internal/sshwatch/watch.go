package sshwatch

import (
	"io"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// Watch returns upstream, the proxy's connection to addr ("host:port", as
// dialed) for a CONNECT tunnel, with the server's side watched: reads
// return the same bytes as upstream's, and the host key in them is
// recorded for addr, before the read that carried it returns, until the
// returned connection is closed. Call it before reading from upstream;
// the server may speak first.
//
// Once the watch is over, WriteTo (which io.Copy uses) copies with
// upstream's own, and ReadFrom always does, so TCP connections splice. If the registry is
// full, Watch returns upstream itself.
func (r *Registry) Watch(addr string, upstream net.Conn) net.Conn {
	t := &tunnel{addr: canonicalAddr(addr)}
	if !r.add(t) {
		r.countUnwatched()
		return upstream
	}
	c := &watchedConn{Conn: upstream, release: func() { r.remove(t) }}
	c.w = NewWatcher(func(key ssh.PublicKey, err error) {
		r.set(t, key, err)
		if r.OnResult != nil {
			r.OnResult(t.addr, key, err)
		}
	})
	c.watching.Store(true)
	return c
}

// watchedConn is a connection to an SSH server whose reads a Watcher sees.
type watchedConn struct {
	net.Conn
	w        *Watcher
	watching atomic.Bool // until the Watcher reported
	release  func()
	once     sync.Once
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.watching.Load() {
		c.w.Write(p[:n])
		if err == io.EOF {
			c.w.Close()
		}
		if c.w.Done() {
			c.watching.Store(false)
		}
	}
	return n, err
}

// WriteTo copies the server's side to dst: through Read while watching,
// then with the connection's own copy.
func (c *watchedConn) WriteTo(dst io.Writer) (int64, error) {
	var written int64
	if c.watching.Load() {
		buf := make([]byte, 8<<10)
		for c.watching.Load() {
			n, err := c.Read(buf)
			if n > 0 {
				m, werr := dst.Write(buf[:n])
				written += int64(m)
				if werr == nil && m < n {
					werr = io.ErrShortWrite
				}
				if werr != nil {
					return written, werr
				}
			}
			if err == io.EOF {
				return written, nil
			}
			if err != nil {
				return written, err
			}
		}
	}
	n, err := io.Copy(dst, c.Conn)
	return written + n, err
}

// ReadFrom copies the agent's side to the server with the connection's own
// copy (a splice between TCP connections): writes are not watched.
func (c *watchedConn) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(onlyWriter{c.Conn}, src)
}

// onlyWriter hides all but Write, so that io.Copy does not come back to
// ReadFrom.
type onlyWriter struct{ io.Writer }

// Close closes the connection and ends its record.
func (c *watchedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.w.Close()
		c.release()
	})
	return err
}

// CloseWrite half-closes the connection if it can, else closes it, as the
// proxy's relay expects of a connection it copies to.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
