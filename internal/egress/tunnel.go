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
	"net/url"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

// tunnelTimeout bounds a CONNECT's dial and the proxy's answer.
const tunnelTimeout = 30 * time.Second

// TunnelRefusedError reports a proxy that answered a CONNECT with other
// than 200.
type TunnelRefusedError struct {
	HostPort string
	Status   string // "403 Forbidden"
	Reason   string // the rule the proxy names in policy.HeaderName, or its body's first line
}

func (e *TunnelRefusedError) Error() string {
	return strings.TrimSpace(fmt.Sprintf("the proxy refused a tunnel to %s: %s %s", e.HostPort, e.Status, e.Reason))
}

// ConnectTunnel opens a tunnel to hostport through the HTTP proxy at
// proxyURL (http://USER:PASSWORD@HOST:PORT) with CONNECT, and returns it
// once the proxy has answered 200. Bytes the far end sent right after
// that answer (an SSH server speaks first) are read from the returned
// connection first. It can close its writing half (CloseWrite).
func ConnectTunnel(ctx context.Context, proxyURL *url.URL, hostport string) (net.Conn, error) {
	if proxyURL.Scheme != "http" {
		return nil, fmt.Errorf("proxy %s: only http:// proxies can tunnel", proxyURL.Redacted())
	}
	addr := proxyURL.Host
	if proxyURL.Port() == "" {
		addr = net.JoinHostPort(proxyURL.Hostname(), "80")
	}
	ctx, cancel := context.WithTimeout(ctx, tunnelTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the proxy at %s: %w", addr, err)
	}
	tunnel, err := askTunnel(ctx, c, proxyURL.User, hostport)
	if err != nil {
		c.Close()
		return nil, err
	}
	return tunnel, nil
}

// askTunnel sends the CONNECT on c and reads the proxy's answer.
func askTunnel(ctx context.Context, c net.Conn, user *url.Userinfo, hostport string) (net.Conn, error) {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	req := "CONNECT " + hostport + " HTTP/1.1\r\nHost: " + hostport + "\r\n"
	if user != nil {
		password, _ := user.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user.Username()+":"+password)) + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return nil, fmt.Errorf("asking the proxy for a tunnel to %s: %w", hostport, err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("reading the proxy's answer to a tunnel to %s: %w", hostport, err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		return nil, &TunnelRefusedError{HostPort: hostport, Status: res.Status, Reason: refusalReason(res)}
	}
	return &readerConn{Conn: c, r: br}, nil
}

// maxReasonBytes bounds what is read of a refusal's body for its reason.
const maxReasonBytes = 1024

// refusalReason is why the proxy refused: the rule its policy.HeaderName
// names, or else the first line of its body.
func refusalReason(res *http.Response) string {
	if why := res.Header.Get(policy.HeaderName); why != "" {
		return why
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxReasonBytes))
	first, _, _ := strings.Cut(string(body), "\n")
	return strings.TrimSpace(first)
}

// readerConn is a connection whose reads come through r, which may hold
// bytes already read from it.
type readerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *readerConn) CloseWrite() error { return closeWrite(c.Conn) }

// CarryTunnel copies in to c and c to out. At in's end it closes c's
// writing half, so the far end sees EOF and can still answer; it returns
// once c has nothing more to read (the far end closed it: what in still
// has could not be delivered) or ctx ends, with c closed. An EOF is not
// an error. It does not wait for a read from in to return.
func CarryTunnel(ctx context.Context, c net.Conn, in io.Reader, out io.Writer) error {
	defer c.Close()
	sent := make(chan error, 1) // in's direction, which closes c if it fails
	go func() {
		_, err := io.Copy(c, in)
		if err == nil {
			err = closeWrite(c)
		}
		if err != nil {
			c.Close() // the far end cannot get the rest: end both ways
		}
		sent <- err
	}()
	received := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, c)
		received <- err
	}()
	select {
	case err := <-received:
		if errors.Is(err, net.ErrClosed) { // by in's direction, which says why
			return <-sent
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeWrite closes c's writing half.
func closeWrite(c net.Conn) error {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return errors.New("the connection cannot close its writing half")
	}
	return cw.CloseWrite()
}
