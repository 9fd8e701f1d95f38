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
	"strings"
	"testing"
	"time"
)

func TestServerSentEventsStream(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			next := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Content-Length", "200") // flushed anyway: it is SSE
				io.WriteString(w, "data: one\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-time.After(10 * time.Second):
				}
				io.WriteString(w, "data: two\n\n"+strings.Repeat(" ", 200-22))
			})
			var up *httptest.Server
			if scheme == "https" {
				up = httptest.NewTLSServer(h)
			} else {
				up = httptest.NewServer(h)
			}
			t.Cleanup(up.Close)
			e := newEnv(t, envOpts{policy: examplePolicy(t), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
			res, err := e.client(t, testToken).Get(exampleURL(t, up, "/events"))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			for _, want := range []string{"data: one\n", "\n"} {
				line, err := br.ReadString('\n')
				if err != nil || line != want {
					t.Fatalf("got %q, %v; want %q before the upstream sends more", line, err, want)
				}
			}
			close(next)
			line, _ := br.ReadString('\n')
			if line != "data: two\n" {
				t.Fatalf("second event: got %q", line)
			}
		})
	}
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
