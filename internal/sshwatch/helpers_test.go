package sshwatch

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// The server's side of a key exchange, built message by message.

// str is b as an SSH string.
func str(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }

func strs(fields ...[]byte) []byte {
	var out []byte
	for _, f := range fields {
		out = append(out, str(f)...)
	}
	return out
}

// packet frames a payload as a binary packet before NEWKEYS: padding to a
// multiple of 8, at least 4 bytes of it, no MAC.
func packet(payload []byte) []byte {
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	out = append(out, byte(pad))
	out = append(out, payload...)
	return append(out, make([]byte, pad)...)
}

func message(typ byte, body ...[]byte) []byte {
	return packet(append([]byte{typ}, bytes.Join(body, nil)...))
}

// kexInit is a server's KEXINIT offering the key exchange methods.
func kexInit(methods ...string) []byte {
	body := make([]byte, 16) // cookie
	lists := []string{strings.Join(methods, ","), "ssh-ed25519", "aes128-ctr", "aes128-ctr",
		"hmac-sha2-256", "hmac-sha2-256", "none", "none", "", ""}
	for _, l := range lists {
		body = append(body, str([]byte(l))...)
	}
	body = append(body, 0, 0, 0, 0, 0) // first_kex_packet_follows, reserved
	return message(msgKexInit, body)
}

// reply is a key exchange reply of type typ: K_S, the ephemeral value, a
// signature-shaped field.
func reply(typ byte, hostKey ssh.PublicKey, ephemeral []byte) []byte {
	return message(typ, strs(hostKey.Marshal(), ephemeral, strs([]byte(hostKey.Type()), make([]byte, 64))))
}

// gexGroup is group exchange's KEX_DH_GEX_GROUP: mpints p and g.
func gexGroup() []byte {
	p := append([]byte{0}, bytes.Repeat([]byte{0xff}, 256)...)
	return message(msgKexReply, strs(p, []byte{2}))
}

// mpintF is a Diffie-Hellman f.
func mpintF() []byte { return append([]byte{0x7f}, bytes.Repeat([]byte{1}, 255)...) }

const ident = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"

// newHostKey returns an ed25519 host key from a fixed seed byte.
func newHostKey(t testing.TB, seed byte) ssh.PublicKey {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	key, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// verdict is what a Watcher reported.
type verdict struct {
	calls int
	key   ssh.PublicKey
	err   error
}

func (v *verdict) report(key ssh.PublicKey, err error) {
	v.calls++
	v.key, v.err = key, err
}

// watch feeds stream to a new Watcher chunk bytes at a time (all at once
// for 0), then closes it if end, and returns what it reported.
func watch(stream []byte, chunk int, end bool) *verdict {
	v := &verdict{}
	w := NewWatcher(v.report)
	if chunk <= 0 {
		chunk = len(stream) + 1
	}
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		if m, err := w.Write(stream[:n]); m != n || err != nil {
			panic("Watcher.Write failed")
		}
		stream = stream[n:]
	}
	if end {
		w.Close()
	}
	return v
}

var (
	aLongTimeAgo = time.Unix(1, 0)
	noDeadline   time.Time
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serverSends writes data on the server's end of a pipe and reads it
// through upstream, the watched end: the bytes must pass unchanged.
func serverSends(t *testing.T, server, upstream net.Conn, data []byte) {
	t.Helper()
	written := make(chan error, 1)
	go func() {
		_, err := server.Write(data)
		written <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(upstream, got); err != nil {
		t.Fatalf("reading through the watched connection: %v", err)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %q through the watched connection, want %q", got, data)
	}
}
