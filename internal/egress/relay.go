package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// relayRetry is how often the relay retries a proxy socket that is not
// there yet: the proxy starts alongside the agent's container.
const relayRetry = 10 * time.Millisecond

// Relay runs inside the agent's container, which has no network but
// loopback. It hands ln, the listening socket the agent's HTTP_PROXY names
// (0.0.0.0:3128 in the container's network namespace), to the proxy over
// the proxy's unix socket, and then holds that connection open for as long
// as it runs: the proxy accepts the agent's connections itself, in the
// agent's namespace, while it dials upstream from its own, and it stops
// once the connection closes (the agent's container is gone).
//
// Connections the agent makes before the proxy has the socket wait in the
// kernel's backlog, so the command's first request never fails. If the
// proxy does not come within wait, Relay closes ln (the agent's
// connections are refused) and returns the error. It returns nil when ctx
// ends.
func Relay(ctx context.Context, ln *net.TCPListener, socket string, wait time.Duration) error {
	defer ln.Close() // the proxy holds its own copy
	c, err := dialWaiting(ctx, socket, wait)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the proxy did not come within %s, so the agent has no network; the proxy's own errors are in ~/.moat/runs/<run-id>/proxy/proxy.log: %w", wait, err)
	}
	defer c.Close()
	if err := sendListener(c.(*net.UnixConn), ln); err != nil {
		return fmt.Errorf("handing the port to the proxy: %w", err)
	}
	ln.Close()
	// The proxy never writes: a read ends when ctx ends or the proxy does.
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	_, _ = c.Read(make([]byte, 1))
	return nil
}

// sendListener passes ln's file descriptor over c.
func sendListener(c *net.UnixConn, ln *net.TCPListener) error {
	f, err := ln.File() // a duplicate, blocking descriptor
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, err = c.WriteMsgUnix([]byte{handoffByte}, syscall.UnixRights(int(f.Fd())), nil)
	return err
}

// handoffByte is the one byte of payload that carries the descriptor.
const handoffByte = 'L'

// receiveListener reads one message from c and returns the listening
// socket it carries.
func receiveListener(c *net.UnixConn) (net.Listener, error) {
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(4*4)) // room for a few, to close extras
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		rights, err := syscall.ParseUnixRights(&m)
		if err == nil {
			fds = append(fds, rights...)
		}
	}
	if n != 1 || buf[0] != handoffByte || len(fds) != 1 {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, errors.New("the message carries no listening socket")
	}
	return fileListener(fds[0])
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
