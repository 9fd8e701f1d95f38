package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/plural"
)

// A blind tunnel carries TLS the proxy does not terminate, so the policy
// judged only the CONNECT host. The agent's ClientHello names the server it
// wants (SNI); an allowed name in the CONNECT and another in the ClientHello
// would reach, through a shared front end (a CDN), a host the policy never
// saw. The proxy reads the first handshake message of every blind tunnel
// and refuses a server name other than the CONNECT host.

const (
	recordHeaderLen = 5
	recordHandshake = 22
	// maxHelloSize bounds the ClientHello the proxy reads (a real one,
	// even with post-quantum key shares, is a few KiB).
	maxHelloSize = 64 << 10
	// helloTimeout bounds the wait for the rest of a ClientHello once its
	// first byte came.
	helloTimeout = 10 * time.Second
)

var errNotHello = errors.New("not a TLS ClientHello")

// readClientHello reads from c what the agent sends first. If that is a
// TLS handshake record, it reads the records holding the whole
// ClientHello and returns its server name; isTLS is false, and raw holds
// the first bytes, for anything else. raw is everything read, to forward.
func readClientHello(c net.Conn) (raw []byte, sni string, isTLS bool, err error) {
	buf := make([]byte, 0, 2048)
	n, err := c.Read(buf[:cap(buf)])
	buf = buf[:n]
	if n == 0 || buf[0] != recordHandshake {
		return buf, "", false, err
	}
	_ = c.SetReadDeadline(time.Now().Add(helloTimeout))
	defer c.SetReadDeadline(time.Time{})
	var hs []byte // the handshake messages, out of their records
	off := 0
	for {
		if err := readAtLeast(c, &buf, off+recordHeaderLen); err != nil {
			return buf, "", true, err
		}
		hdr := buf[off : off+recordHeaderLen]
		if hdr[0] != recordHandshake || hdr[1] != 3 {
			return buf, "", true, errNotHello
		}
		size := int(hdr[3])<<8 | int(hdr[4])
		if size == 0 || off+recordHeaderLen+size > maxHelloSize {
			return buf, "", true, fmt.Errorf("TLS record of %s", plural.Count(size, "byte"))
		}
		if err := readAtLeast(c, &buf, off+recordHeaderLen+size); err != nil {
			return buf, "", true, err
		}
		hs = append(hs, buf[off+recordHeaderLen:off+recordHeaderLen+size]...)
		off += recordHeaderLen + size
		if len(hs) >= 4 && len(hs) >= 4+(int(hs[1])<<16|int(hs[2])<<8|int(hs[3])) {
			sni, err := parseClientHello(hs)
			return buf, sni, true, err
		}
	}
}

// readAtLeast reads from c into buf until it holds n bytes.
func readAtLeast(c net.Conn, buf *[]byte, n int) error {
	if len(*buf) >= n {
		return nil
	}
	if cap(*buf) < n {
		grown := make([]byte, len(*buf), max(n, 2*cap(*buf)))
		copy(grown, *buf)
		*buf = grown
	}
	m, err := io.ReadAtLeast(c, (*buf)[len(*buf):cap(*buf)], n-len(*buf))
	*buf = (*buf)[:len(*buf)+m]
	return err
}

// parseClientHello returns the host_name in the server_name extension of
// the ClientHello that starts hs (handshake messages), or "" if it has
// none. A malformed message, a repeated extension or two host names are
// errors.
func parseClientHello(hs []byte) (string, error) {
	if len(hs) < 4 || hs[0] != 1 {
		return "", errNotHello
	}
	msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
	if len(hs) < 4+msgLen {
		return "", errNotHello
	}
	b := reader(hs[4 : 4+msgLen])
	if !b.skip(2+32) || !b.skipVec(1) || !b.skipVec(2) || !b.skipVec(1) {
		return "", errNotHello
	}
	if len(b) == 0 {
		return "", nil // no extensions
	}
	exts, ok := b.vec(2)
	if !ok || len(b) != 0 {
		return "", errNotHello
	}
	seen := map[uint16]bool{}
	var name string
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		data, ok2 := exts.vec(2)
		if !ok1 || !ok2 {
			return "", errNotHello
		}
		if seen[typ] {
			return "", fmt.Errorf("ClientHello repeats extension %d", typ)
		}
		seen[typ] = true
		if typ == 0 {
			var err error
			if name, err = parseServerName(data); err != nil {
				return "", err
			}
		}
	}
	return name, nil
}

// parseServerName reads a server_name extension's body.
func parseServerName(data reader) (string, error) {
	list, ok := data.vec(2)
	if !ok || len(data) != 0 || len(list) == 0 {
		return "", errors.New("malformed server_name extension")
	}
	var name string
	for len(list) > 0 {
		if len(list) < 1 {
			return "", errors.New("malformed server_name extension")
		}
		typ := list[0]
		list = list[1:]
		n, ok := list.vec(2)
		if !ok {
			return "", errors.New("malformed server_name extension")
		}
		if typ != 0 {
			continue
		}
		if name != "" {
			return "", errors.New("ClientHello names two servers")
		}
		if len(n) == 0 || strings.ContainsFunc(string(n), func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return "", errors.New("malformed server name")
		}
		name = string(n)
	}
	return name, nil
}

// reader reads big-endian TLS vectors from a byte slice.
type reader []byte

func (r *reader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

func (r *reader) u16() (uint16, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := uint16((*r)[0])<<8 | uint16((*r)[1])
	*r = (*r)[2:]
	return v, true
}

// vec reads a vector whose length takes lenBytes (1 or 2) bytes.
func (r *reader) vec(lenBytes int) (reader, bool) {
	if len(*r) < lenBytes {
		return nil, false
	}
	n := int((*r)[0])
	if lenBytes == 2 {
		n = n<<8 | int((*r)[1])
	}
	*r = (*r)[lenBytes:]
	if len(*r) < n {
		return nil, false
	}
	v := (*r)[:n]
	*r = (*r)[n:]
	return v, true
}

func (r *reader) skipVec(lenBytes int) bool {
	_, ok := r.vec(lenBytes)
	return ok
}

// checkServerName decides whether a blind tunnel's first bytes may go to
// host:port. A TLS ClientHello must name host (any case, with or without
// a trailing dot); one to an IP address must name none, and one to a name
// must name it (every TLS client connecting by name sends it). Anything
// but TLS is refused on port 443, which is for TLS, and passed on other
// ports (SSH, databases), which the policy allowed by host and port.
func checkServerName(host string, port int, sni string, isTLS bool, err error) error {
	switch {
	case err != nil && isTLS:
		return fmt.Errorf("reading the TLS ClientHello: %w", err)
	case !isTLS && port == 443:
		return errors.New("the tunnel to port 443 did not start with a TLS ClientHello")
	case !isTLS:
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(sni, "."))
	if isIP(host) {
		if sni != "" {
			return fmt.Errorf("the TLS server name %q is not the CONNECT host %q", sni, host)
		}
		return nil
	}
	if sni == "" {
		return fmt.Errorf("the TLS ClientHello names no server, but the CONNECT host is %q", host)
	}
	if name != host {
		return fmt.Errorf("the TLS server name %q is not the CONNECT host %q", sni, host)
	}
	return nil
}

func isIP(host string) bool { return net.ParseIP(host) != nil }
