package sshwatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

var (
	curve25519Eph = bytes.Repeat([]byte{9}, 32)
	sntrupEph     = bytes.Repeat([]byte{9}, 1039+32)
	strictKex     = []string{"ext-info-s", "kex-strict-s-v00@openssh.com"}
)

func offering(methods ...string) []byte { return kexInit(append(methods, strictKex...)...) }

// TestWatcherFindsHostKey checks the streams a server may send: the key
// is K_S of the reply, fed whole or a byte at a time, reported once.
func TestWatcherFindsHostKey(t *testing.T) {
	t.Parallel()
	key := newHostKey(t, 1)
	ignore, debug := message(msgIgnore, str([]byte("x"))), message(msgDebug, []byte{0}, strs([]byte("hi"), nil))
	tests := []struct {
		name   string
		stream []byte
	}{
		{"curve25519", join([]byte(ident), offering("curve25519-sha256"), reply(msgKexReply, key, curve25519Eph))},
		{"lines before the identification", join([]byte("Welcome\r\nto the server\r\n\r\n"+ident), offering("curve25519-sha256"), reply(msgKexReply, key, curve25519Eph))},
		{"LF line ends", join([]byte("banner\nSSH-2.0-dropbear\n"), offering("curve25519-sha256"), reply(msgKexReply, key, curve25519Eph))},
		{"SSH-1.99", join([]byte("SSH-1.99-old\r\n"), offering("curve25519-sha256"), reply(msgKexReply, key, curve25519Eph))},
		{"ignore and debug messages", join([]byte(ident), ignore, offering("curve25519-sha256"), debug, ignore, reply(msgKexReply, key, curve25519Eph))},
		{"diffie-hellman", join([]byte(ident), offering("diffie-hellman-group14-sha256"), reply(msgKexReply, key, mpintF()))},
		{"ecdh nistp256", join([]byte(ident), offering("ecdh-sha2-nistp256"), reply(msgKexReply, key, bytes.Repeat([]byte{4}, 65)))},
		{"sntrup761x25519", join([]byte(ident), offering("sntrup761x25519-sha512@openssh.com"), reply(msgKexReply, key, sntrupEph))},
		{"mlkem768x25519", join([]byte(ident), offering("mlkem768x25519-sha256"), reply(msgKexReply, key, bytes.Repeat([]byte{9}, 1088+32)))},
		{"group exchange", join([]byte(ident), offering("diffie-hellman-group-exchange-sha256"), gexGroup(), reply(msgKexGexReply, key, mpintF()))},
		{"group exchange among others, chosen", join([]byte(ident), offering("curve25519-sha256", "diffie-hellman-group-exchange-sha256"), gexGroup(), reply(msgKexGexReply, key, mpintF()))},
		{"group exchange among others, not chosen", join([]byte(ident), offering("diffie-hellman-group-exchange-sha256", "curve25519-sha256"), reply(msgKexReply, key, curve25519Eph))},
		{"a method the watcher does not know among others", join([]byte(ident), offering("gss-curve25519-sha256-x", "curve25519-sha256"), reply(msgKexReply, key, curve25519Eph))},
		{"NEWKEYS and encrypted bytes after the reply", join([]byte(ident), offering("curve25519-sha256"), reply(msgKexReply, key, curve25519Eph), message(msgNewKeys), bytes.Repeat([]byte{0xff}, 100000))},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 7} {
			v := watch(tt.stream, chunk, true)
			if v.calls != 1 || v.err != nil || v.key == nil || !bytes.Equal(v.key.Marshal(), key.Marshal()) {
				t.Errorf("%s, fed %d bytes at a time: got %d reports, key %v, error %v; want one with the host key", tt.name, chunk, v.calls, v.key, v.err)
			}
		}
	}
}

// TestWatcherGivesUp feeds hostile and broken streams: each ends in one
// report of the right kind, never a key, never a panic.
func TestWatcherGivesUp(t *testing.T) {
	t.Parallel()
	key := newHostKey(t, 1)
	hello := join([]byte(ident), offering("curve25519-sha256"))
	huge := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	tests := []struct {
		name   string
		stream []byte
		end    bool // the stream ends (Close) after it
		want   error
		detail string
	}{
		{"nothing", nil, true, ErrNotSSH, "ended before an identification"},
		{"SSH 1", []byte("SSH-1.5-ancient\r\n"), false, ErrNotSSH, `"SSH-1.5-ancient"`},
		{"endless banner", bytes.Repeat([]byte("hello\r\n"), 1000), false, ErrNotSSH, "first 32 lines"},
		{"a line without end", bytes.Repeat([]byte("a"), 100000), false, ErrNotSSH, "longer than 8192"},
		{"a NUL in a long line", join(bytes.Repeat([]byte("a"), 8000), []byte{0}, bytes.Repeat([]byte("a"), 8000)), false, ErrNotSSH, "NUL"},
		{"a NUL past the longest line", join(bytes.Repeat([]byte("a"), 8192), []byte{0}), false, ErrNotSSH, "longer than 8192"},
		{"a TLS server", []byte("\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03"), false, ErrNotSSH, "NUL"},
		{"a CR within the identification", []byte("SSH-2.0-a\rb\r\n"), false, ErrNotSSH, "CR"},
		{"garbage after the identification", join([]byte(ident), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), false, ErrMalformed, "exceeds"},
		{"a huge packet length", join([]byte(ident), huge), false, ErrMalformed, "packet length 4294967295"},
		{"a packet just over RFC 4253's limit", join([]byte(ident), binary.BigEndian.AppendUint32(nil, 35000-3)), false, ErrMalformed, "exceeds"},
		{"a packet at the limit, cut short", join([]byte(ident), binary.BigEndian.AppendUint32(nil, 35000-4), make([]byte, 1000)), true, ErrNoHostKey, "stream ended"},
		{"a truncated reply", join(hello, reply(msgKexReply, key, curve25519Eph)[:100]), true, ErrNoHostKey, "stream ended"},
		{"an empty packet", join([]byte(ident), make([]byte, 4)), false, ErrMalformed, "empty packet"},
		{"too little padding", join([]byte(ident), []byte{0, 0, 0, 8, 3, msgKexInit, 0, 0, 0, 0, 0, 0}), false, ErrMalformed, "padding"},
		{"padding over the payload", join([]byte(ident), []byte{0, 0, 0, 8, 7, msgKexInit, 0, 0, 0, 0, 0, 0}), false, ErrMalformed, "padding"},
		{"NEWKEYS before the reply", join(hello, message(msgNewKeys), reply(msgKexReply, key, curve25519Eph)), false, ErrNoHostKey, "NEWKEYS came first"},
		{"a disconnect", join(hello, message(msgDisconnect, []byte{0, 0, 0, 2}, str([]byte("go away\x1b[2J")), str(nil))), false, ErrNoHostKey, `"go away\x1b[2J"`},
		{"a reply before KEXINIT", join([]byte(ident), reply(msgKexReply, key, curve25519Eph)), false, ErrMalformed, "before KEXINIT"},
		{"a second KEXINIT", join(hello, offering("curve25519-sha256")), false, ErrMalformed, "second KEXINIT"},
		{"a cut KEXINIT", join([]byte(ident), message(msgKexInit, make([]byte, 20))), false, ErrMalformed, "cut short"},
		{"no methods", join([]byte(ident), kexInit(strictKex...)), false, ErrMalformed, "offers no key exchange method"},
		{"an empty list", join([]byte(ident), kexInit()), false, ErrMalformed, "offers no key exchange method"},
		{"only unknown methods", join([]byte(ident), offering("gss-gex-sha1-abc", "x448-sha512@example.com")), false, ErrUnrecognisedKeyExchange, `"gss-gex-sha1-abc", "x448-sha512@example.com"`},
		{"a reply of another method's shape", join(hello, reply(msgKexReply, key, bytes.Repeat([]byte{4}, 65))), false, ErrUnrecognisedKeyExchange, "message 31"},
		{"a reply of another shape, unknown methods offered", join([]byte(ident), offering("curve25519-sha256", "gss-curve25519-sha256-x"), reply(msgKexReply, key, mpintF())), false, ErrUnrecognisedKeyExchange, `"gss-curve25519-sha256-x"`},
		{"a reply with a trailing field", join(hello, message(msgKexReply, strs(key.Marshal(), curve25519Eph, strs([]byte("ssh-ed25519"), nil), nil))), false, ErrUnrecognisedKeyExchange, "message 31"},
		{"a reply whose signature is no signature", join(hello, message(msgKexReply, strs(key.Marshal(), curve25519Eph, []byte("sig")))), false, ErrUnrecognisedKeyExchange, "message 31"},
		{"a field overrunning the reply", join(hello, message(msgKexReply, huge, key.Marshal())), false, ErrUnrecognisedKeyExchange, "message 31"},
		{"an unparsable host key", join(hello, message(msgKexReply, strs([]byte("\x00\x00\x00\x07ssh-foo"), curve25519Eph, strs([]byte("ssh-foo"), nil)))), false, ErrMalformed, "parsing the server's host key"},
		{"a group exchange reply without a group", join([]byte(ident), offering("diffie-hellman-group-exchange-sha256"), reply(msgKexGexReply, key, mpintF())), false, ErrUnrecognisedKeyExchange, "message 33"},
		{"a group when group exchange is not offered", join(hello, gexGroup()), false, ErrUnrecognisedKeyExchange, "message 31"},
		{"a second group", join([]byte(ident), offering("diffie-hellman-group-exchange-sha256"), gexGroup(), gexGroup()), false, ErrUnrecognisedKeyExchange, "message 31"},
		{"a group of negative mpints", join([]byte(ident), offering("diffie-hellman-group-exchange-sha256"), message(msgKexReply, strs([]byte{0x80}, []byte{2}))), false, ErrUnrecognisedKeyExchange, "message 31"},
		{"a service message in the key exchange", join(hello, message(6, str([]byte("ssh-userauth")))), false, ErrUnrecognisedKeyExchange, "message 6"},
		{"endless ignore messages", join(hello, bytes.Repeat(message(msgIgnore, str(nil)), 100)), false, ErrTooLong, "16 packets"},
		{"large ignore messages", join(hello, bytes.Repeat(message(msgIgnore, str(make([]byte, 30000))), 3)), false, ErrTooLong, "65536 bytes"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 5} {
			v := watch(tt.stream, chunk, tt.end)
			if v.calls != 1 || v.key != nil || !errors.Is(v.err, tt.want) || !strings.Contains(v.err.Error(), tt.detail) {
				t.Errorf("%s, fed %d bytes at a time: got %d reports, key %v, error %v; want one, with %q and %q", tt.name, chunk, v.calls, v.key, v.err, tt.want, tt.detail)
			}
		}
	}
}

// TestWatcherWaits checks that a stream cut short before any verdict
// reports nothing until it ends.
func TestWatcherWaits(t *testing.T) {
	t.Parallel()
	key := newHostKey(t, 1)
	full := join([]byte("banner\r\n"+ident), offering("curve25519-sha256"), reply(msgKexReply, key, curve25519Eph))
	for n := range len(full) {
		if v := watch(full[:n], 0, false); v.calls != 0 {
			t.Fatalf("the first %d of %d bytes: got a report (%v, %v), want none yet", n, len(full), v.key, v.err)
		}
	}
}

// TestWatcherReportsOnce writes and closes after the verdict: no second
// report.
func TestWatcherReportsOnce(t *testing.T) {
	t.Parallel()
	v := &verdict{}
	w := NewWatcher(v.report)
	w.Write([]byte("SSH-1.0-x\r\n"))
	w.Write([]byte(ident))
	w.Close()
	w.Close()
	if v.calls != 1 || !errors.Is(v.err, ErrNotSSH) || !w.Done() {
		t.Fatalf("got %d reports, last %v, done %v; want one, ErrNotSSH", v.calls, v.err, w.Done())
	}
}
