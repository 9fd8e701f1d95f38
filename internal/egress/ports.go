package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A run's published ports (docs/ports.md). The proxy, in the host's
// network namespace, listens on each published host address; the agent's
// server listens on its port in the agent's namespace, which has nothing
// but loopback. A socket keeps the namespace it was made in, so for each
// connection the proxy asks the relay, over the connection the relay
// handed the proxy port over, for a fresh TCP socket made in the agent's
// namespace (socketRequest), connects it itself to 127.0.0.1:PORT there
// and copies the bytes between the two connections. The proxy alone
// chooses where that socket connects: the published port, never anything
// else; nothing the agent sends is read as an address, and the host-side
// listener never dials out.

// socketRequest is the byte the proxy writes on a relay's hand-over
// connection to ask for a socket; the relay answers with one message
// carrying the socket (handoffByte).
const socketRequest = 'S'

// connectTimeout bounds the connection to the agent's port and the wait
// for the relay's socket.
const connectTimeout = 10 * time.Second

// publisher listens on the run's published host addresses and carries
// their connections into the agent's namespace.
type publisher struct {
	listeners []net.Listener
	ports     []int // the agent's port of each listener
	sockets   *agentSockets
	logf      func(string, ...any)
	wg        sync.WaitGroup
}

// listenPorts listens on every published host address, failing if any is
// taken: the proxy then never says it is ready and the run fails before
// its command starts.
func listenPorts(ports []PublishedPort, logf func(string, ...any)) (*publisher, error) {
	p := &publisher{sockets: newAgentSockets(), logf: logf}
	for _, port := range ports {
		ln, err := net.Listen("tcp", port.Host)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("publishing port %d on %s: %w", port.ContainerPort, port.Host, err)
		}
		p.listeners = append(p.listeners, ln)
		p.ports = append(p.ports, port.ContainerPort)
	}
	for i, ln := range p.listeners {
		p.wg.Add(1)
		go p.accept(ln, p.ports[i])
	}
	return p, nil
}

func (p *publisher) accept(ln net.Listener, port int) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.carry(c, port)
	}
}

// carry connects to port in the agent's namespace and copies c's bytes
// there and back, half-closing each way as it ends.
func (p *publisher) carry(c net.Conn, port int) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	fd, err := p.sockets.socket(ctx)
	cancel()
	if err != nil {
		p.logf("moat proxy: published port %d: %v", port, err)
		return
	}
	agent, err := connectInAgent(fd, port)
	if err != nil {
		p.logf("moat proxy: published port %d: connecting to the agent's port: %v", port, err)
		return
	}
	defer agent.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(agent, c)
		agent.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, agent)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	<-done
}

// Close stops listening; connections being carried end with their peers.
func (p *publisher) Close() error {
	for _, ln := range p.listeners {
		ln.Close()
	}
	p.sockets.close()
	p.wg.Wait()
	return nil
}

// connectInAgent connects fd, a socket the relay made in the agent's
// namespace, to 127.0.0.1:port there. It checks that fd is what the relay
// must send, an IPv4 stream socket neither bound nor connected: the
// address it connects to is the proxy's choice alone.
func connectInAgent(fd, port int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "agent-socket")
	defer f.Close() // FileConn keeps a duplicate
	if err := checkFreshSocket(fd); err != nil {
		return nil, err
	}
	tv := unix.NsecToTimeval(connectTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return nil, err
	}
	// Blocking: the socket came over SCM_RIGHTS as the relay made it. On
	// Linux SO_SNDTIMEO bounds a blocking connect.
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, err
	}
	return net.FileConn(f)
}

// checkFreshSocket refuses anything but an IPv4 TCP socket that is not
// bound, listening or connected.
func checkFreshSocket(fd int) error {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || domain != unix.AF_INET {
		return errors.New("the relay sent something other than an IPv4 socket")
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_STREAM {
		return errors.New("the relay sent something other than a TCP socket")
	}
	if _, err := unix.Getpeername(fd); !errors.Is(err, unix.ENOTCONN) {
		return errors.New("the relay sent a connected socket")
	}
	sa, err := unix.Getsockname(fd)
	if in4, ok := sa.(*unix.SockaddrInet4); err != nil || !ok || in4.Port != 0 {
		return errors.New("the relay sent a bound socket")
	}
	return nil
}

// agentSockets asks the relay that handed over the agent's proxy port
// first for sockets in the agent's namespace. That relay is moat-init's:
// the agent's command starts only after it has handed over the port, so
// a connection the agent makes to the proxy's socket later is never
// asked.
type agentSockets struct {
	attached chan struct{} // closed once the relay's connection is set
	closed   chan struct{}
	once     sync.Once
	stop     sync.Once
	c        *net.UnixConn
	replies  chan int

	mu sync.Mutex // one request at a time
}

func newAgentSockets() *agentSockets {
	return &agentSockets{attached: make(chan struct{}), closed: make(chan struct{}), replies: make(chan int)}
}

// attach makes c the connection asked for sockets, if none is yet, and
// reports whether it did.
func (s *agentSockets) attach(c *net.UnixConn) bool {
	ok := false
	s.once.Do(func() {
		s.c, ok = c, true
		close(s.attached)
	})
	return ok
}

// reply is the relay's answer, read by whoever reads c (readRelay): it
// goes to the request waiting for it, or is closed.
func (s *agentSockets) reply(fd int) {
	select {
	case s.replies <- fd:
	case <-s.closed:
		unix.Close(fd)
	case <-time.After(connectTimeout):
		unix.Close(fd) // its request gave up
	}
}

// socket asks the relay for a socket and returns it, once a relay has
// come.
func (s *agentSockets) socket(ctx context.Context) (int, error) {
	select {
	case <-s.attached:
	case <-s.closed:
		return -1, errors.New("the agent's container is gone")
	case <-ctx.Done():
		return -1, errors.New("the agent's container has not started yet")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.c.Write([]byte{socketRequest}); err != nil {
		return -1, fmt.Errorf("asking the relay for a socket: %w", err)
	}
	select {
	case fd := <-s.replies:
		return fd, nil
	case <-s.closed:
		return -1, errors.New("the agent's container is gone")
	case <-ctx.Done():
		return -1, errors.New("the relay did not answer")
	}
}

func (s *agentSockets) close() { s.stop.Do(func() { close(s.closed) }) }

// readRelay reads c, a relay's hand-over connection, until it closes:
// the agent's container is gone. The sockets it carries go to s if c is
// the connection s asks; any other's are closed.
func readRelay(c *net.UnixConn, s *agentSockets) {
	asked := s != nil && s.attach(c)
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || (n == 0 && oobn == 0) {
			if asked {
				s.close()
			}
			return
		}
		for i, fd := range parseRights(oob[:oobn]) {
			if asked && i == 0 && n == 1 && buf[0] == handoffByte {
				s.reply(fd)
				continue
			}
			unix.Close(fd)
		}
	}
}

// parseRights returns the descriptors a message's control data carries.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if rights, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, rights...)
		}
	}
	return fds
}
