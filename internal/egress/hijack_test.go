package egress

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHijacked: a connection taken stays open until released or until
// close, which ends it at the client, makes its release report false, and
// refuses connections that come after; wait returns once all are released.
func TestHijacked(t *testing.T) {
	var h hijacked
	released := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, ok := h.take(w, "cannot take it")
		if !ok {
			return
		}
		rw.WriteString("HTTP/1.1 200 OK\r\n\r\n")
		rw.Flush()
		rw.ReadByte() // until the client or close ends it
		released <- h.release(c)
	}))
	defer srv.Close()
	get := func() (*http.Response, net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			return nil, nil
		}
		return res, c
	}

	res, c := get()
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("the first connection was not taken: %v", res)
	}
	c.Close()
	if open := <-released; !open {
		t.Error("a connection the client closed was released as closed by close")
	}

	res, c = get()
	if res == nil {
		t.Fatal("the second connection was not taken")
	}
	defer c.Close()
	h.close()
	if open := <-released; open {
		t.Error("a connection close ended was released as open until then")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("close left the client's connection open")
	}
	h.wait()
	if res, c := get(); res != nil {
		c.Close()
		t.Errorf("a connection after close was taken: %v", res.Status)
	}
	h.close() // idempotent
}
