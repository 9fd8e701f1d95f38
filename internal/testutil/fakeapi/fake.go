package fakeapi

import (
	"net/http"
	"slices"
	"sync"
)

// fake is what every fake API shares: the server it runs on, the test CA
// a test trusts, and the requests it received, each an R, the fake's own
// record of a request.
type fake[R any] struct {
	CAPEM string // the test CA that signed the fake's certificate
	srv   *Server

	mu   sync.Mutex
	reqs []R
}

// serve serves h over TLS on addr, as name (see ServeTLS).
func (f *fake[R]) serve(name, addr string, h http.Handler) error {
	srv, err := ServeTLS(name, addr, h)
	if err != nil {
		return err
	}
	f.srv, f.CAPEM = srv, srv.CAPEM
	return nil
}

// Close stops the fake.
func (f *fake[R]) Close() error { return f.srv.Close() }

// record adds req to the requests and returns how many there are now.
func (f *fake[R]) record(req R) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return len(f.reqs)
}

// count is how many requests the fake has received.
func (f *fake[R]) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// Requests returns every request the fake received, in order.
func (f *fake[R]) Requests() []R {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}
