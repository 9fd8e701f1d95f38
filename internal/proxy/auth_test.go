package proxy

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// authCase is one Proxy-Authorization header (header "" sends none) and
// whether the proxy must let the request through.
type authCase struct {
	name   string
	header string
	ok     bool
}

func basic(cred string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)) }

// authCases are the headers the token check must refuse, around the two
// it must accept: the token as the password, under any user name (the
// user name is not a secret: only the token counts) and any case of the
// scheme (RFC 7617).
func authCases() []authCase {
	cases := []authCase{
		{"token", basic("moat:" + testToken), true},
		{"other-user-right-token", basic("someone:" + testToken), true},
		{"scheme-lower-case", "basic " + base64.StdEncoding.EncodeToString([]byte("moat:"+testToken)), true},
		{"missing-header", "", false},
		{"empty-header", "Basic", false},
		{"empty-credentials", "Basic ", false},
		{"empty-password", basic("moat:"), false},
		{"empty-user-and-password", basic(":"), false},
		{"no-colon", basic(testToken), false},
		{"token-as-user", basic(testToken + ":"), false},
		{"token-plus-suffix", basic("moat:" + testToken + "4"), false},
		{"token-plus-space", basic("moat:" + testToken + " "), false},
		{"token-plus-nul", basic("moat:" + testToken + "\x00"), false},
		{"token-twice", basic("moat:" + testToken + testToken), false},
		{"upper-case-token", basic("moat:" + strings.ToUpper(testToken)), false},
		{"one-letter-case-changed", basic("moat:R" + testToken[1:]), false},
		{"leading-space", basic("moat: " + testToken), false},
		{"wrong-user-wrong-token", basic("root:wrong"), false},
		{"bearer-scheme", "Bearer " + testToken, false},
		{"raw-token", testToken, false},
		{"malformed-base64", "Basic !!" + testToken, false},
		{"unpadded-base64", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("moat:"+testToken+"x")), false},
		{"base64-with-trailing-garbage", basic("moat:"+testToken) + "%%", false},
	}
	for i := range len(testToken) { // every proper prefix, the empty one included
		cases = append(cases, authCase{fmt.Sprintf("prefix-%d", i), basic("moat:" + testToken[:i]), false})
	}
	return cases
}

// TestTokenCheck sends each header with a plain request and with a
// CONNECT, through a real listener: only the exact token passes, and a
// refused request never reaches the upstream.
func TestTokenCheck(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t)})
	target := "example.com:" + examplePort(up)
	for _, c := range authCases() {
		t.Run(c.name, func(t *testing.T) {
			want := http.StatusProxyAuthRequired
			if c.ok {
				want = http.StatusOK
			}
			before := hits.Load()
			if got := e.rawStatus(t, "GET http://"+target+"/ HTTP/1.1", c.header); got != want {
				t.Errorf("GET with %q: got %d, want %d", c.header, got, want)
			}
			if !c.ok && hits.Load() != before {
				t.Errorf("GET with %q reached the upstream", c.header)
			}
			if got := e.rawStatus(t, "CONNECT "+target+" HTTP/1.1", c.header); got != want {
				t.Errorf("CONNECT with %q: got %d, want %d", c.header, got, want)
			}
		})
	}
}

// TestTokenCheckEmptyToken checks that a server without a token refuses
// everything, the empty password above all (it equals the empty token).
func TestTokenCheckEmptyToken(t *testing.T) {
	t.Parallel()
	srv := &Server{}
	t.Cleanup(func() { srv.Close() })
	for _, h := range []string{"", basic("moat:"), basic(":"), basic("moat:" + testToken)} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://example.com/", nil)
		if h != "" {
			req.Header.Set("Proxy-Authorization", h)
		}
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusProxyAuthRequired {
			t.Errorf("empty Token, header %q: got %d, want 407", h, rec.Code)
		}
	}
}

// rawStatus sends one request line with header as its
// Proxy-Authorization (none if empty) and returns the response's status.
func (e *testEnv) rawStatus(t *testing.T, line, header string) int {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	host := strings.Fields(line)[1]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "http://"), "/")
	req := line + "\r\nHost: " + host + "\r\n"
	if header != "" {
		req += "Proxy-Authorization: " + header + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(line, " ")
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
