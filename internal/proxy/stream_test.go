package proxy

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestStreamedBodiesArriveAsSent checks that what the upstream has sent
// reaches the agent before the upstream sends more, for every kind of
// body: server-sent events, a chunked body, and a body of known length.
func TestStreamedBodiesArriveAsSent(t *testing.T) {
	t.Parallel()
	const first, second = "data: one\n\n", "data: two\n\n"
	for _, body := range []struct {
		name, contentType, contentLength string
	}{
		{"sse", "text/event-stream", strconv.Itoa(len(first + second))},
		{"chunked", "application/octet-stream", ""},
		{"known-length", "application/octet-stream", strconv.Itoa(len(first + second))},
	} {
		for _, scheme := range []string{"http", "https"} {
			t.Run(body.name+"/"+scheme, func(t *testing.T) {
				t.Parallel()
				next := make(chan struct{})
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", body.contentType)
					if body.contentLength != "" {
						w.Header().Set("Content-Length", body.contentLength)
					}
					io.WriteString(w, first)
					w.(http.Flusher).Flush()
					select {
					case <-next:
					case <-time.After(10 * time.Second):
					}
					io.WriteString(w, second)
				})
				up := newUpstream(t, scheme, h)
				e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
				// The upstream holds back its second part until the
				// first has reached the client, headers included.
				var res *http.Response
				got := make([]byte, len(first))
				done := make(chan error, 1)
				go func() {
					var err error
					if res, err = e.client(t, testToken).Get(exampleURL(t, up, "/events")); err == nil {
						_, err = io.ReadFull(res.Body, got)
					}
					done <- err
				}()
				select {
				case err := <-done:
					if err != nil || string(got) != first {
						t.Fatalf("got %q, %v; want %q", got, err, first)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("the first %d bytes did not arrive before the upstream sent more", len(first))
				}
				defer res.Body.Close()
				close(next)
				rest, err := io.ReadAll(res.Body)
				if err != nil || string(rest) != second {
					t.Fatalf("rest: got %q, %v; want %q", rest, err, second)
				}
			})
		}
	}
}

// newUpstream serves h over scheme ("http" or "https") until t ends.
func newUpstream(t *testing.T, scheme string, h http.Handler) *httptest.Server {
	var up *httptest.Server
	if scheme == "https" {
		up = httptest.NewTLSServer(h)
	} else {
		up = httptest.NewServer(h)
	}
	t.Cleanup(up.Close)
	return up
}

// pattern is a deterministic stream of n bytes.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 31 >> 3)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func patternSum(n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, &pattern{n: n})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// TestLargeBodies is not parallel so the heap it samples is its own.
func TestLargeBodies(t *testing.T) {
	const size = 50 << 20
	want := patternSum(size)
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %v %x", n, err, h.Sum(nil))
			return
		}
		if r.URL.Query().Get("length") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		io.Copy(w, &pattern{n: size})
	}))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
	c := e.client(t, testToken)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
	}()

	res, err := c.Post(exampleURL(t, up, "/up"), "application/octet-stream", &pattern{n: size})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if got := string(body); got != fmt.Sprintf("%d <nil> %x", size, want) {
		t.Errorf("upload: upstream got %q", got)
	}
	if ev := e.event(t); ev.BytesOut != size {
		t.Errorf("upload event: BytesOut %d, want %d", ev.BytesOut, size)
	}
	for _, q := range []string{"", "?length=1"} {
		res, err = c.Get(exampleURL(t, up, "/down"+q))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, res.Body)
		res.Body.Close()
		if n != size || err != nil || [32]byte(h.Sum(nil)) != want {
			t.Errorf("download%s: got %d bytes, %v, or the wrong bytes", q, n, err)
		}
		if ev := e.event(t); ev.BytesIn != size {
			t.Errorf("download%s event: BytesIn %d, want %d", q, ev.BytesIn, size)
		}
	}
	close(stop)
	<-sampled
	if peak > base && peak-base > 32<<20 {
		t.Errorf("heap grew by %d MiB moving 50 MiB bodies: the proxy buffers them", (peak-base)>>20)
	}
	t.Logf("heap peak %d MiB above the start", (peak-min(peak, base))>>20)
}

func TestWebSocketUpgradeIntercepted(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			t.Parallel()
			up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Authorization") != "Bearer "+testSecret {
					http.Error(w, "want an upgrade with the injected credential", http.StatusBadRequest)
					return
				}
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				io.Copy(conn, brw) // echo
			}))
			up.EnableHTTP2 = h2
			up.StartTLS()
			t.Cleanup(up.Close)
			e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
			target := "example.com:" + examplePort(up)
			res, conn, _ := e.rawConnect(t, target, testToken)
			if res.StatusCode != 200 {
				t.Fatalf("CONNECT: %d", res.StatusCode)
			}
			tc := tls.Client(conn, &tls.Config{ServerName: "example.com", RootCAs: e.roots})
			fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", target)
			br := bufio.NewReader(tc)
			r2, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r2.StatusCode != http.StatusSwitchingProtocols {
				b, _ := io.ReadAll(r2.Body)
				t.Fatalf("got %d %q, want 101", r2.StatusCode, b)
			}
			for _, msg := range []string{"hello\n", "again\n"} {
				io.WriteString(tc, msg)
				got, err := br.ReadString('\n')
				if err != nil || got != msg {
					t.Fatalf("echo: got %q, %v; want %q", got, err, msg)
				}
			}
			tc.Close()
			if ev := e.event(t); ev.Status != 101 || ev.Grant != "github" || ev.Path != "/ws" {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

func TestCloseEndsTunnels(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // holds the tunnel open, silent
		}
	}()
	e := newEnv(t, envOpts{policy: examplePolicy(t)}) // no credentials: blind
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	res, blind, _ := e.rawConnect(t, "example.com:"+port, testToken)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", res.StatusCode)
	}
	c := <-accepted
	defer c.Close()
	readDone := make(chan error, 1)
	go func() {
		_, err := blind.Read(make([]byte, 1))
		readDone <- err
	}()

	closed := make(chan struct{})
	go func() { e.srv.Close(); e.srv.Close(); close(closed) }()
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the blind tunnel's client read did not return after Close")
	}
	select {
	case <-closed:
	case <-time.After(closeWait + time.Second):
		t.Fatal("Close did not return")
	}
	if ev := e.event(t); ev.Scheme != "tunnel" {
		t.Errorf("event %+v, want the tunnel's", ev)
	}
	res, _, _ = e.rawConnect(t, "example.com:"+port, testToken)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a CONNECT after Close: got %d, want 503", res.StatusCode)
	}
}

// TestStreamedChunkTakesOneWrite checks corking: each piece of a streamed
// body reaches the agent's socket in one write (chunk header, data and
// chunk end together), not three.
func TestStreamedChunkTakesOneWrite(t *testing.T) {
	const pieces, size = 8, 8 << 10
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			next := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				for range pieces {
					w.Write(make([]byte, size))
					w.(http.Flusher).Flush()
					select { // the piece has reached the client: it goes alone
					case <-next:
					case <-time.After(10 * time.Second):
						return
					}
				}
			})
			up := newUpstream(t, scheme, h)
			e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
			res, err := e.client(t, testToken).Get(exampleURL(t, up, "/stream"))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			before := e.writes.n.Load() // the first piece may be out already
			buf := make([]byte, size)
			for i := range pieces {
				if _, err := io.ReadFull(res.Body, buf); err != nil {
					t.Fatalf("piece %d: %v", i, err)
				}
				next <- struct{}{}
			}
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				t.Fatal(err)
			}
			// pieces-1 pieces after the first, the end of the body, and
			// slack for a piece that TLS delivered to the proxy in two reads.
			if got := e.writes.n.Load() - before; got > pieces+2 {
				t.Fatalf("%d writes to the agent's socket for %d streamed pieces, want at most %d", got, pieces-1, pieces+2)
			}
		})
	}
}

// TestEventBeforeTheAgentSeesTheEnd checks that a request is recorded
// before the last byte of its response goes to the agent, so that an event
// of the agent's next request never comes first in the audit log. (A
// chunked body's end is written after the handler returns, so only a body
// of known length could reach the agent first.)
func TestEventBeforeTheAgentSeesTheEnd(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			up := newUpstream(t, scheme, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5")
				io.WriteString(w, "hello")
			}))
			e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
			var atEvent atomic.Int64
			e.srv.OnEvent = func(Event) { atEvent.Store(e.writes.n.Load()) } // before the first request: allowed
			res, err := e.client(t, testToken).Get(exampleURL(t, up, "/"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || string(b) != "hello" {
				t.Fatalf("body %q, %v", b, err)
			}
			if atEvent.Load() == 0 || atEvent.Load() >= e.writes.n.Load() {
				t.Fatalf("the event came after %d of the %d writes to the agent's socket: after the body's end", atEvent.Load(), e.writes.n.Load())
			}
		})
	}
}
