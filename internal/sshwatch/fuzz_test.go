package sshwatch

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzWatcher feeds arbitrary server bytes, whole and in chunks: the
// Watcher never panics, reports exactly once by the stream's end, reports
// the same however the bytes are split, and reports only a key whose
// bytes the stream holds.
func FuzzWatcher(f *testing.F) {
	key := newHostKey(f, 1)
	hello := join([]byte(ident), offering("curve25519-sha256", "diffie-hellman-group-exchange-sha256", "sntrup761x25519-sha512@openssh.com"))
	f.Add(join(hello, reply(msgKexReply, key, curve25519Eph)), uint8(0))
	f.Add(join(hello, gexGroup(), reply(msgKexGexReply, key, mpintF())), uint8(3))
	f.Add(join([]byte("banner\n"), hello, message(msgIgnore, str(nil)), reply(msgKexReply, key, sntrupEph)), uint8(1))
	f.Add(join(hello, message(msgNewKeys)), uint8(2))
	f.Add(join(hello, message(msgDisconnect, []byte{0, 0, 0, 2}, str([]byte("bye")), str(nil))), uint8(5))
	f.Add([]byte(ident+"\xff\xff\xff\xff"), uint8(0))
	f.Add([]byte("SSH-1.5-x\r\n"), uint8(0))
	f.Add(join(bytes.Repeat([]byte("a"), 8000), []byte{0}, bytes.Repeat([]byte("a"), 8000)), uint8(16))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole := watch(stream, 0, true)
		split := watch(stream, 1+int(chunk%17), true)
		if whole.calls != 1 || split.calls != 1 {
			t.Fatalf("reports: %d fed whole, %d split; want one each", whole.calls, split.calls)
		}
		if describe(whole) != describe(split) {
			t.Fatalf("fed whole: %s; split every %d bytes: %s", describe(whole), 1+chunk%17, describe(split))
		}
		if whole.key != nil && !bytes.Contains(stream, whole.key.Marshal()) {
			t.Fatalf("reported a key the stream does not hold: %s", fingerprint(whole.key))
		}
		if (whole.key == nil) == (whole.err == nil) {
			t.Fatalf("reported key %s and error %v: want exactly one", fingerprint(whole.key), whole.err)
		}
	})
}

func describe(v *verdict) string { return fmt.Sprintf("key %s, error %v", fingerprint(v.key), v.err) }
