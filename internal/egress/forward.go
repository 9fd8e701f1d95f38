package egress

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// holdRetry is how long DialHold waits between tries while the proxy
// does not answer yet.
const holdRetry = 100 * time.Millisecond

// DialHold opens the relay's hold connection (holdPath) to the proxy at
// addr, with the run's token, trying again for at most wait while nothing
// answers there (the proxy's pod may still be starting). The proxy counts
// the agent as there for as long as the connection stays open: whoever
// holds it must keep it open until the agent's container ends (Hold).
func DialHold(ctx context.Context, addr, token string, wait time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	d := net.Dialer{KeepAliveConfig: keepAlive}
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			if err := askHold(ctx, c, token); err != nil {
				c.Close()
				return nil, fmt.Errorf("opening the hold connection to the proxy at %s: %w", addr, err)
			}
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the proxy at %s (%s) did not come within %s, so the agent has no network; see the proxy's log: %w", addr, ProxyAddrEnv, wait, err)
		case <-time.After(holdRetry):
		}
	}
}

// askHold sends the hold request on c and reads the proxy's 200.
func askHold(ctx context.Context, c net.Conn, token string) error {
	return DialLocal(ctx, c, token, holdPath)
}

// DialLocal asks the proxy, on c (a connection to the proxy's port), for
// its local endpoint path under AttestHost with the run's token, and
// reads the proxy's 200 within ctx. Nothing after the answer's head is
// read from c: what follows is the endpoint's.
func DialLocal(ctx context.Context, c net.Conn, token, path string) error {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	auth := base64.StdEncoding.EncodeToString([]byte("moat:" + token))
	req := "GET http://" + AttestHost + path + " HTTP/1.1\r\nHost: " + AttestHost + "\r\nProxy-Authorization: Basic " + auth + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	// Small enough that nothing after the head is read into it: the
	// proxy sends nothing more before the endpoint's own bytes, which
	// the caller reads from c itself.
	br := bufio.NewReaderSize(c, 16)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("the proxy answered %s, want 200 OK", res.Status)
	}
	if br.Buffered() > 0 {
		return errors.New("the proxy wrote after its answer")
	}
	return nil
}

// acceptRetry is how long Forward waits after a failed accept.
const acceptRetry = 50 * time.Millisecond

// forwardDialTimeout bounds a forwarded connection's dial to the proxy.
const forwardDialTimeout = 10 * time.Second

// HoldForwarding is the relay's background half in forward mode: it
// holds hold open and forwards every connection accepted on ln to the
// proxy at addr, until ctx ends or the proxy closes the hold (it stopped:
// there is nothing left to forward to). Then it closes ln and every
// forwarded connection.
func HoldForwarding(ctx context.Context, hold net.Conn, ln net.Listener, addr string) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Forward(ctx, ln, addr)
	}()
	Hold(ctx, hold)
	cancel()
	<-done
}

// Forward accepts connections on ln and carries each, both ways, to a
// connection of its own to addr, passing each side's close of its
// writing half on to the other (a client that shuts down its side still
// gets the answer). When ctx ends it closes ln and every connection and
// returns once they are done.
func Forward(ctx context.Context, ln net.Listener, addr string) {
	forwardEach(ctx, ln, addr, nil)
}

// forwardEach is Forward, with open, if not nil, run on each connection
// to addr before the splice: an error from it closes both connections.
// ctx ending closes them while it runs too.
func forwardEach(ctx context.Context, ln net.Listener, addr string, open func(context.Context, net.Conn) error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	track := func(cs ...net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return false
		}
		for _, c := range cs {
			conns[c] = struct{}{}
		}
		return true
	}
	untrack := func(cs ...net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			delete(conns, c)
		}
	}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stop()
	d := net.Dialer{Timeout: forwardDialTimeout, KeepAliveConfig: keepAlive}
	for {
		agent, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
			break
		}
		if err != nil { // out of descriptors, or a connection reset before it was taken
			time.Sleep(acceptRetry)
			continue
		}
		wg.Go(func() {
			defer agent.Close()
			if !track(agent) {
				return
			}
			defer untrack(agent)
			up, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return // the agent sees its connection closed
			}
			defer up.Close()
			if !track(up) {
				return
			}
			defer untrack(up)
			if open != nil {
				openCtx, cancel := context.WithTimeout(ctx, forwardDialTimeout)
				err := open(openCtx, up)
				cancel()
				if err != nil {
					return
				}
			}
			splice(agent, up)
		})
	}
	ln.Close()
	wg.Wait()
}

// splice copies a to b and b to a until both directions have ended. A
// direction that ends with EOF closes the writing half of its
// destination; one that fails closes both connections, so the other
// direction cannot wait for ever.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { copyHalf(b, a) })
	copyHalf(a, b)
	wg.Wait()
}

func copyHalf(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	cw, ok := dst.(interface{ CloseWrite() error })
	if err != nil || !ok || cw.CloseWrite() != nil {
		dst.Close()
		src.Close()
	}
}
