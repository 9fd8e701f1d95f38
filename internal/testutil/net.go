package testutil

import (
	"net"
	"testing"
)

// FreeLoopbackAddr is an address on 127.0.0.1 that nothing listens on
// now: where a test starts a server of its own.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
