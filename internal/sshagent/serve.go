package sshagent

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh/agent"
)

// ErrServerClosed is what Serve returns after Close.
var ErrServerClosed = errors.New("ssh agent: server closed")

// closeTimeout bounds how long Close waits for connections to finish a
// request: a backend may be waiting on the user's ssh-agent.
const closeTimeout = 5 * time.Second

// Serve accepts connections on l (a unix socket for SSH_AUTH_SOCK) and
// serves each with its own agent, until Close or a failed Accept. It
// always closes l. After Close it returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l, nil) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrack(l, nil)
	defer l.Close()
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			return fmt.Errorf("accepting ssh agent connections on %s: %w", l.Addr(), err)
		}
		if !s.track(nil, c) {
			c.Close()
			return ErrServerClosed
		}
		go s.serveConn(c)
	}
}

// serveConn serves one connection; track has counted it in s.serving.
func (s *Server) serveConn(c net.Conn) {
	defer s.serving.Done()
	defer s.untrack(nil, c)
	defer c.Close()
	// ServeAgent returns when the client hangs up or Close closes c;
	// either way the connection is done.
	_ = agent.ServeAgent(s.NewAgent(), c)
}

// Close stops every Serve, closes every connection and waits, up to a
// few seconds, for their requests to end. It may be called more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.serving.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(closeTimeout):
		return fmt.Errorf("ssh agent: connections still busy %s after close: a signer is not answering", closeTimeout)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a listener or a connection, unless the server is
// closed; a connection is counted in s.serving.
func (s *Server) track(l net.Listener, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if l != nil {
		s.listeners[l] = struct{}{}
	}
	if c != nil {
		s.conns[c] = struct{}{}
		s.serving.Add(1)
	}
	return true
}

func (s *Server) untrack(l net.Listener, c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
	delete(s.conns, c)
}
