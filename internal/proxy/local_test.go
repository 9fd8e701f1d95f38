package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moatsh/moat/internal/policy"
)

// TestLocalEndpoints: requests to LocalHost that pass the token check are
// answered by Local, on any port, and make no Event; without the token
// they get 407 and never reach it; a CONNECT to that host and requests to
// other hosts take the usual path (here the policy's refusal).
func TestLocalEndpoints(t *testing.T) {
	t.Parallel()
	pol, err := policy.New(policy.Strict, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var local, events int
	s := &Server{
		Token: testToken, Policy: pol,
		Local:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { local++; io.WriteString(w, "local") }),
		LocalHost: "moat.local.test",
		OnEvent:   func(Event) { events++ },
	}
	defer s.Close()
	for _, tc := range []struct {
		method, target, auth string
		status, local        int
	}{
		{"GET", "http://moat.local.test/v1/x", basic("moat:" + testToken), 200, 1},
		{"POST", "http://MOAT.local.test:8080/v1/x", basic("moat:" + testToken), 200, 1},
		{"GET", "http://moat.local.test/v1/x", "", http.StatusProxyAuthRequired, 0},
		{"GET", "http://moat.local.test/v1/x", basic("moat:wrong"), http.StatusProxyAuthRequired, 0},
		{"GET", "http://other.test/v1/x", basic("moat:" + testToken), policy.DenyStatus, 0},
		{"CONNECT", "moat.local.test:443", basic("moat:" + testToken), policy.DenyStatus, 0},
	} {
		local, events = 0, 0
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.method == "CONNECT" {
			r.Host, r.URL.Host = tc.target, tc.target
		}
		if tc.auth != "" {
			r.Header.Set("Proxy-Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != tc.status || local != tc.local {
			t.Errorf("%s %s (auth %q): status %d, local %d; want %d, %d", tc.method, tc.target, tc.auth, w.Code, local, tc.status, tc.local)
		}
		if tc.local == 1 && events != 0 {
			t.Errorf("%s %s: a local endpoint made an Event", tc.method, tc.target)
		}
	}
}
