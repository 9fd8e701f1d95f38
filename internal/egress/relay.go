package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Relay runs inside the agent's container, which has no network but
// loopback. It hands ln, the listening socket the agent's HTTP_PROXY names
// (0.0.0.0:3128 in the container's network namespace), to the proxy over
// the proxy's unix socket (Handover), and then holds that connection open
// for as long as it runs (Hold): the proxy accepts the agent's connections
// itself, in the agent's namespace, while it dials upstream from its own,
// and it stops once the connection closes (the agent's container is gone).
//
// If the proxy does not come within wait, Relay closes ln (the agent's
// connections are refused) and returns the error. It returns nil when ctx
// ends.
func Relay(ctx context.Context, ln *net.TCPListener, socket string, wait time.Duration) error {
	c, err := Handover(ctx, ln, socket, wait)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return err
	}
	Hold(ctx, c)
	return nil
}

// Handover waits for the proxy's socket, for at most wait, and hands ln
// to the proxy over it. ln is closed when it returns: the proxy holds its
// own copy. The returned connection is what tells the proxy the agent's
// container lives; whoever holds it must keep it open until then (Hold).
//
// moat-init runs the agent's command only once Handover has returned: the
// proxy then always learns of the agent, and so sees the agent's end by
// itself (its connection closes), whatever the command does.
func Handover(ctx context.Context, ln *net.TCPListener, socket string, wait time.Duration) (*net.UnixConn, error) {
	defer ln.Close()
	c, err := dialWaiting(ctx, socket, wait)
	if err != nil {
		return nil, fmt.Errorf("the proxy did not come within %s, so the agent has no network; the proxy's own errors are in ~/.moat/runs/<run-id>/proxy/proxy.log: %w", wait, err)
	}
	uc := c.(*net.UnixConn)
	if err := sendListener(uc, ln); err != nil {
		uc.Close()
		return nil, fmt.Errorf("handing the port to the proxy: %w", err)
	}
	return uc, nil
}

// Hold keeps c open until ctx ends or the proxy closes it, then closes it.
// Meanwhile, on a hand-over connection (unix), it answers the proxy's
// requests for a socket in this network namespace, for the run's
// published ports (ports.go), with a fresh TCP socket, unbound: where it
// connects is the proxy's choice.
func Hold(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	uc, _ := c.(*net.UnixConn)
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return // ctx ended or the proxy did
		}
		for _, b := range buf[:n] {
			if b != socketRequest || uc == nil {
				continue
			}
			if err := sendSocket(uc); err != nil {
				return
			}
		}
	}
}

// sendSocket makes a TCP socket in this network namespace and passes it
// over c.
func sendSocket(c *net.UnixConn) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, _, err = c.WriteMsgUnix([]byte{handoffByte}, unix.UnixRights(fd), nil)
	return err
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

// ReceiveListener is the proxy's side of Handover: it reads one message
// from c and returns the listening socket it carries. (The end-to-end
// tests stand in for a sabotaged proxy with it.)
func ReceiveListener(c *net.UnixConn) (net.Listener, error) {
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

// dialWaiting dials the proxy's socket, for at most wait. While the
// socket does not exist or refuses, it waits for the proxy to create it
// (or make it world-writable, which the proxy does right after it
// listens), as told by inotify on the socket's directory: no poll, so
// the relay gets the socket the moment it is usable.
func dialWaiting(parent context.Context, socket string, wait time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(parent, wait)
	defer cancel()
	w, werr := watchDir(filepath.Dir(socket))
	if werr == nil {
		defer w.Close()
		stop := context.AfterFunc(ctx, func() { w.SetReadDeadline(time.Now()) })
		defer stop()
	}
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", socket)
		if err == nil {
			return c, nil
		}
		if parent.Err() != nil { // the caller gave up, not the wait
			return nil, parent.Err()
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if werr != nil { // no inotify: the only way left is to poll
			select {
			case <-ctx.Done():
			case <-time.After(fallbackPoll):
			}
			continue
		}
		// Whatever changed in the directory since the watch began is
		// queued: reading returns at once if the socket came meanwhile.
		w.Read(make([]byte, 4096)) // an error is the deadline: the next dial says what to report
	}
}

// fallbackPoll is how often dialWaiting retries where inotify is missing.
const fallbackPoll = 10 * time.Millisecond

// watchDir returns an inotify descriptor that becomes readable when an
// entry of dir is created, moved in, or changes its attributes.
func watchDir(dir string) (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "inotify:"+dir), nil
}
