package sshwatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/moatsh/moat/internal/plural"
)

// Why a Watcher saw no host key. Every error it reports wraps one of them.
var (
	// ErrNotSSH: the server's identification is not SSH 2.0's (RFC 4253
	// 4.2), or none came within the bounds.
	ErrNotSSH = errors.New("the server does not speak SSH 2.0")
	// ErrMalformed: a packet or message does not parse.
	ErrMalformed = errors.New("malformed SSH key exchange")
	// ErrUnrecognisedKeyExchange: the server offers no method the watcher
	// knows, or sent a key exchange message that fits none it offered.
	ErrUnrecognisedKeyExchange = errors.New("unrecognised key exchange")
	// ErrNoHostKey: the key exchange ended (NEWKEYS, a disconnect, the
	// end of the stream) before the server sent its host key.
	ErrNoHostKey = errors.New("no host key before the key exchange ended")
	// ErrTooLong: no host key within the bytes or packets a key exchange
	// takes.
	ErrTooLong = errors.New("no host key within the watched bounds")
)

// Bounds on what a Watcher reads. A key exchange's clear-text part, from
// a server with a 16384-bit RSA host key offering group exchange with an
// 8192-bit group, is under 10 KiB in a handful of packets.
const (
	// maxLineLen is the longest identification line (OpenSSH's
	// SSH_MAX_BANNER_LEN).
	maxLineLen = 8192
	// maxLines is how many lines the server may send before its
	// identification (RFC 4253 4.2 allows some; OpenSSH reads 1024).
	maxLines = 32
	// maxPacketLen is the largest packet_length: RFC 4253 6.1's 35000
	// bytes in all, less the length field itself.
	maxPacketLen = 35000 - 4
	// maxPackets is how many packets may come before the host key.
	maxPackets = 16
	// maxBytes is how many bytes may come before the host key.
	maxBytes = 64 << 10
)

// A Watcher reads the server's side of one SSH connection, as written to
// it, until it has seen the server's host key or gives up, then reports
// once. Write never fails and never keeps the bytes beyond the key
// exchange, so a Watcher can sit on a tee: it only looks. It is safe for
// concurrent use, though the bytes must come in order.
type Watcher struct {
	report func(ssh.PublicKey, error)

	mu          sync.Mutex
	done        bool
	buf         []byte // fed and not yet parsed
	fed         int
	lines       int
	lineChecked int // bytes of a partial line already checked
	identified  bool
	packets     int
	offer       *offer // the server's KEXINIT, once seen
	sawGexGroup bool
}

// NewWatcher returns a Watcher that calls report once, with the server's
// host key or, with a nil key, why it saw none. report is called on the
// goroutine that wrote the bytes completing the verdict (or that called
// Close), after the Watcher has released its lock.
func NewWatcher(report func(hostKey ssh.PublicKey, err error)) *Watcher {
	return &Watcher{report: report}
}

// Write feeds the next bytes the server sent. It always returns len(p),
// nil.
func (w *Watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return len(p), nil
	}
	take := min(len(p), maxBytes-w.fed)
	w.buf = append(w.buf, p[:take]...)
	w.fed += take
	key, err := w.parse()
	if key == nil && err == nil && w.fed == maxBytes {
		err = fmt.Errorf("%w: %d bytes", ErrTooLong, maxBytes)
	}
	w.finish(key, err)
	return len(p), nil
}

// Close tells the Watcher the stream ended; if it has not reported yet,
// it reports that the host key never came.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return nil
	}
	err := fmt.Errorf("%w: the stream ended", ErrNoHostKey)
	if !w.identified {
		err = fmt.Errorf("%w: the stream ended before an identification", ErrNotSSH)
	}
	w.finish(nil, err)
	return nil
}

// Done reports whether the Watcher has reported.
func (w *Watcher) Done() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

// finish unlocks w and, given a verdict, records it and reports it.
func (w *Watcher) finish(key ssh.PublicKey, err error) {
	if key == nil && err == nil {
		w.mu.Unlock()
		return
	}
	w.done, w.buf, w.offer = true, nil, nil
	w.mu.Unlock()
	w.report(key, err)
}

// parse consumes what it can of the buffer: the host key or an error
// ends the watch; neither means more bytes are needed.
func (w *Watcher) parse() (ssh.PublicKey, error) {
	for !w.identified {
		if more, err := w.nextLine(); !more || err != nil {
			return nil, err
		}
	}
	for {
		payload, err := w.nextPacket()
		if payload == nil || err != nil {
			return nil, err
		}
		if key, err := w.handle(payload); key != nil || err != nil {
			return key, err
		}
	}
}

// nextLine consumes one line of the identification phase if a whole one
// is buffered (RFC 4253 4.2: CR LF, or LF alone as OpenSSH accepts; lines
// before the identification are allowed, NULs and lone CRs are not).
func (w *Watcher) nextLine() (bool, error) {
	// Bytes of a partial line were checked by an earlier call: a server
	// sending a byte at a time costs no more than one sending lines.
	i := bytes.IndexByte(w.buf[w.lineChecked:], '\n')
	end := len(w.buf)
	if i >= 0 {
		end = w.lineChecked + i
	}
	line := w.buf[:end]
	// The NUL is looked for where a byte-at-a-time stream would have
	// found it before the length: the verdict is the same however the
	// bytes come.
	switch {
	case bytes.IndexByte(line[w.lineChecked:min(len(line), maxLineLen)], 0) >= 0:
		return false, fmt.Errorf("%w: a NUL in a line", ErrNotSSH)
	case len(line) > maxLineLen:
		return false, fmt.Errorf("%w: a line longer than %d bytes", ErrNotSSH, maxLineLen)
	case i < 0:
		w.lineChecked = len(line)
		return false, nil
	}
	w.buf, w.lineChecked = w.buf[end+1:], 0
	line = bytes.TrimSuffix(line, []byte("\r"))
	if bytes.IndexByte(line, '\r') >= 0 {
		return false, fmt.Errorf("%w: a CR within a line", ErrNotSSH)
	}
	if bytes.HasPrefix(line, []byte("SSH-")) {
		if !bytes.HasPrefix(line, []byte("SSH-2.0-")) && !bytes.HasPrefix(line, []byte("SSH-1.99-")) {
			return false, fmt.Errorf("%w: it identifies as %s", ErrNotSSH, quote(string(line)))
		}
		w.identified = true
		return true, nil
	}
	if w.lines++; w.lines > maxLines {
		return false, fmt.Errorf("%w: no identification in the first %d lines", ErrNotSSH, maxLines)
	}
	return true, nil
}

// nextPacket consumes one binary packet if a whole one is buffered and
// returns its payload (RFC 4253 6: no MAC before NEWKEYS).
func (w *Watcher) nextPacket() ([]byte, error) {
	if len(w.buf) < 4 {
		return nil, nil
	}
	length := binary.BigEndian.Uint32(w.buf)
	if length > maxPacketLen {
		return nil, fmt.Errorf("%w: packet length %d exceeds RFC 4253's %d", ErrMalformed, length, maxPacketLen)
	}
	if len(w.buf) < 4+int(length) {
		return nil, nil
	}
	packet := w.buf[4 : 4+length]
	w.buf = w.buf[4+length:]
	if w.packets++; w.packets > maxPackets {
		return nil, fmt.Errorf("%w: %d packets", ErrTooLong, maxPackets)
	}
	if length < 1 {
		return nil, fmt.Errorf("%w: an empty packet", ErrMalformed)
	}
	padding := int(packet[0])
	if padding < 4 || 1+padding >= len(packet) {
		return nil, fmt.Errorf("%w: a packet of %s with %s of padding", ErrMalformed, plural.Count(length, "byte"), plural.Count(padding, "byte"))
	}
	return packet[1 : len(packet)-padding], nil
}

// handle reads one message of the server's: the host key or an error ends
// the watch.
func (w *Watcher) handle(payload []byte) (ssh.PublicKey, error) {
	typ, body := payload[0], payload[1:]
	switch typ {
	case msgIgnore, msgDebug, msgUnimplemented:
		return nil, nil
	case msgDisconnect:
		return nil, fmt.Errorf("%w: the server disconnected%s", ErrNoHostKey, disconnectReason(body))
	case msgNewKeys:
		return nil, fmt.Errorf("%w: NEWKEYS came first", ErrNoHostKey)
	case msgKexInit:
		if w.offer != nil {
			return nil, fmt.Errorf("%w: a second KEXINIT before the host key", ErrMalformed)
		}
		o, err := parseKexInit(body)
		w.offer = &o
		return nil, err
	}
	if w.offer == nil {
		return nil, fmt.Errorf("%w: message %d before KEXINIT", ErrMalformed, typ)
	}
	return w.kexMessage(typ, body)
}

// kexMessage reads a key exchange message: the reply that carries K_S,
// or group exchange's group, which precedes its reply.
func (w *Watcher) kexMessage(typ byte, body []byte) (ssh.PublicKey, error) {
	fields, err := splitStrings(body)
	if err != nil {
		return nil, w.unrecognised(typ, body)
	}
	switch {
	case typ == msgKexReply && !w.sawGexGroup && len(fields) == 2 && w.offer.groupExchange():
		if !isMpint(fields[0]) || !isMpint(fields[1]) {
			return nil, w.unrecognised(typ, body)
		}
		w.sawGexGroup = true
		return nil, nil
	case typ == msgKexReply && !w.sawGexGroup:
		key, fits, err := parseReply(fields, w.offer.fitsReply)
		if !fits {
			return nil, w.unrecognised(typ, body)
		}
		return key, err
	case typ == msgKexGexReply && w.sawGexGroup:
		key, fits, err := parseReply(fields, isMpint)
		if !fits {
			return nil, w.unrecognised(typ, body)
		}
		return key, err
	}
	return nil, w.unrecognised(typ, body)
}

// unrecognised is the error for a key exchange message the watcher
// cannot take for what it would be in the methods it knows.
func (w *Watcher) unrecognised(typ byte, body []byte) error {
	err := fmt.Errorf("%w: message %d of %s fits no message of the methods the server offers", ErrUnrecognisedKeyExchange, typ, plural.Count(len(body)+1, "byte"))
	if len(w.offer.unknown) > 0 {
		err = fmt.Errorf("%w (it may be of one the watcher does not know: %s)", err, quoteNames(w.offer.unknown))
	}
	return err
}

// disconnectReason quotes a DISCONNECT's description (RFC 4253 11.1), if
// it has one.
func disconnectReason(body []byte) string {
	if len(body) < 4 {
		return ""
	}
	desc, _, ok := readString(body[4:])
	if !ok || len(desc) == 0 {
		return ""
	}
	return ": " + quote(string(desc))
}
