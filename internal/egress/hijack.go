package egress

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// hijacked tracks the connections an endpoint of the proxy (a hold, the
// SSH agent) takes over from the proxy's HTTP server, which no longer
// closes them: close ends them all when the proxy stops. The zero value
// is ready.
type hijacked struct {
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // one for each connection taken and not released
}

// take hijacks w's connection and tracks it until release. When the
// connection cannot be hijacked it answers refusal (a 500), and once close
// was called it closes the connection; either way it reports false.
func (h *hijacked) take(w http.ResponseWriter, refusal string) (net.Conn, *bufio.ReadWriter, bool) {
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, refusal, http.StatusInternalServerError)
		return nil, nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c.Close()
		return nil, nil, false
	}
	if h.conns == nil {
		h.conns = map[net.Conn]struct{}{}
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	return c, rw, true
}

// release closes c, a connection take returned, and forgets it. It
// reports whether c was open until then: false when close closed it.
func (h *hijacked) release(c net.Conn) bool {
	c.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	_, open := h.conns[c]
	delete(h.conns, c)
	h.wg.Done()
	return open
}

// close closes every connection taken and not released, and refuses the
// ones that come after. It is idempotent.
func (h *hijacked) close() {
	h.mu.Lock()
	h.closed = true
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// wait returns once every connection taken has been released.
func (h *hijacked) wait() { h.wg.Wait() }
