package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// relayRetry is how often the relay retries a proxy socket that is not
// there yet: the proxy starts alongside the agent's container.
const relayRetry = 10 * time.Millisecond

// Relay runs inside the agent's container, which has no network: it
// accepts the agent's proxy connections on ln (127.0.0.1:3128, the address
// HTTP_PROXY names) and carries each, byte for byte, to the proxy's unix
// socket. It holds no secret and decides nothing; the proxy checks the
// token on every request. A connection made before the proxy listens waits
// up to wait for it, so the command's first request never fails. Relay
// returns when ctx ends.
func Relay(ctx context.Context, ln net.Listener, socket string, wait time.Duration) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	wg.Go(func() { holdAlive(ctx, aliveSocket(socket), agentGrace) })
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		wg.Go(func() { relayConn(ctx, c, socket, wait) })
	}
}

func relayConn(ctx context.Context, c net.Conn, socket string, wait time.Duration) {
	defer c.Close()
	up, err := dialWaiting(ctx, socket, wait)
	if err != nil {
		return // the agent sees the connection close: the proxy is gone
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// dialWaiting dials the proxy's socket, retrying while it does not exist
// or refuses, for at most wait.
func dialWaiting(ctx context.Context, socket string, wait time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(wait)
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", socket)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(relayRetry):
		}
	}
}
