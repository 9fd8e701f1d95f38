package egress

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// agentGrace is how long the proxy waits for the first relay before it
// concludes the agent never came (its container failed to start).
const agentGrace = 2 * time.Minute

// handoffTimeout bounds how long a connection to the proxy socket may take
// to hand over its port.
const handoffTimeout = 10 * time.Second

// acceptAgents listens on the proxy's unix socket for relays. Each relay
// hands over the agent's listening proxy port, which serve then serves,
// and keeps its connection open while the agent's container lives. Once
// every relay that came has gone, or none came within grace, acceptAgents
// calls gone: a detached run leaves no proxy running after its command
// ended, even when no moat command comes by to finish the run.
//
// The socket is open to every user: the relay may run under another UID
// than the proxy, and only the agent's container and the proxy's see the
// directory. Whoever connects can at most hand over another listening
// socket of its own, whose clients still need the run's token.
//
// The first relay to hand over a port is also asked for sockets in the
// agent's namespace, for the run's published ports (sockets; nil for
// none).
func acceptAgents(path, seenFile string, grace time.Duration, serve func(net.Listener), gone func(), sockets *agentSockets, logf func(string, ...any)) (io.Closer, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("replacing the proxy socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on the proxy socket: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("opening the proxy socket to the agent: %w", err)
	}
	agents := watchAgents(seenFile, grace, gone, logf)
	hold := func(c net.Conn) {
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(handoffTimeout))
		port, err := ReceiveListener(c.(*net.UnixConn))
		if err != nil {
			logf("moat proxy: a connection to the proxy socket did not hand over a port: %v", err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		agents.arrive()
		serve(port)
		readRelay(c.(*net.UnixConn), sockets) // until the relay's side closes
		agents.leave()
	}
	go func() {
		defer agents.stop()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go hold(c)
		}
	}()
	return ln, nil
}

// agentWatch counts the agent's relays while they hold their connection
// to the proxy, and calls gone once the last has gone, or if none came
// within the grace: the proxy's one sign of the agent's container.
type agentWatch struct {
	seenFile string
	gone     func()
	logf     func(string, ...any)
	timer    *time.Timer

	mu   sync.Mutex
	live int
	seen bool
}

func watchAgents(seenFile string, grace time.Duration, gone func(), logf func(string, ...any)) *agentWatch {
	w := &agentWatch{seenFile: seenFile, gone: gone, logf: logf}
	w.timer = time.AfterFunc(grace, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.seen {
			gone()
		}
	})
	return w
}

// arrive counts a relay that came; the first one creates the seen file.
func (w *agentWatch) arrive() {
	w.mu.Lock()
	first := !w.seen
	w.live, w.seen = w.live+1, true
	w.mu.Unlock()
	if first && w.seenFile != "" {
		if err := os.WriteFile(w.seenFile, nil, 0o644); err != nil {
			w.logf("moat proxy: marking the agent's port received: %v", err)
		}
	}
}

// leave counts a relay gone, and calls gone if it was the last.
func (w *agentWatch) leave() {
	w.mu.Lock()
	w.live--
	last := w.live == 0
	w.mu.Unlock()
	if last {
		w.gone()
	}
}

// stop ends the grace's timer.
func (w *agentWatch) stop() { w.timer.Stop() }

// fileListener turns fd into a listener if it is a listening TCP socket,
// and closes it otherwise.
func fileListener(fd int) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), "agent-proxy-port")
	defer f.Close() // FileListener keeps a duplicate
	accepting, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil || accepting != 1 {
		return nil, errors.New("the descriptor handed over is not a listening socket")
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if _, ok := ln.(*net.TCPListener); !ok {
		ln.Close()
		return nil, errors.New("the socket handed over is not a TCP socket")
	}
	return ln, nil
}
