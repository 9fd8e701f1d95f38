package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/moatsh/moat/internal/state"
)

// routerWith returns a router over a store holding the runs, each taking
// its name as an active run does.
func routerWith(t *testing.T, runs ...*state.Run) *router {
	t.Helper()
	return &router{store: storeWith(t, runs...)}
}

func TestRouterRoutesByName(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host "+r.Host)
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	hostPort, _ := strconv.Atoi(u.Port())
	rt := routerWith(t,
		&state.Run{ID: "aaa111bbb222", Name: "web", Status: state.Running,
			Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: 1, ContainerPort: 8080}, {HostIP: "0.0.0.0", HostPort: hostPort, ContainerPort: 3000}}},
		&state.Run{ID: "ccc333ddd444", Name: "done", Status: state.Exited,
			Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: hostPort, ContainerPort: 3000}}},
		&state.Run{ID: "eee555fff666", Name: "quiet", Status: state.Running},
	)
	tests := []struct {
		host       string
		wantStatus int
		wantBody   string
	}{
		{"3000.web.moat.localhost:8880", http.StatusOK, "host 3000.web.moat.localhost:8880"},
		{"3000.WEB.moat.localhost.", http.StatusOK, "host 3000.WEB.moat.localhost."},
		{"web.moat.localhost:8880", http.StatusBadGateway, ""}, // the first port: nothing listens on 1
		{"4000.web.moat.localhost", http.StatusNotFound, "moat router: run web publishes no port 4000\n"},
		{"done.moat.localhost", http.StatusNotFound, "moat router: no active run is named \"done\"\n"},
		{"nobody.moat.localhost", http.StatusNotFound, "moat router: no active run is named \"nobody\"\n"},
		{"quiet.moat.localhost", http.StatusNotFound, "moat router: run quiet publishes no port (moat run -p)\n"},
		{"../x.moat.localhost", http.StatusNotFound, "moat router: no active run is named \"../x\"\n"},
		{"example.com", http.StatusNotFound, "moat router: \"example.com\" is not NAME.moat.localhost\n"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = tt.host
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		if w.Code != tt.wantStatus || (tt.wantBody != "" && w.Body.String() != tt.wantBody) {
			t.Errorf("%s: got %d %q, want %d %q", tt.host, w.Code, w.Body.String(), tt.wantStatus, tt.wantBody)
		}
	}
}

// The router says what it is on moat.localhost alone: a run's own path of
// the same name is the run's.
func TestRouterIdentifiesItself(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "run's "+r.URL.Path)
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	hostPort, _ := strconv.Atoi(u.Port())
	rt := routerWith(t, &state.Run{ID: "aaa111bbb222", Name: "web", Status: state.Running,
		Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: hostPort, ContainerPort: 3000}}})
	rt.homeID = "0123456789abcdef"
	for _, tt := range []struct{ host, wantID, wantBody string }{
		{"moat.localhost:8880", "0123456789abcdef", "moat router\n"},
		{"moat.localhost", "0123456789abcdef", "moat router\n"},
		{"web.moat.localhost:8880", "", "run's /.moat/router"},
	} {
		req := httptest.NewRequest("GET", "/.moat/router", nil)
		req.Host = tt.host
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		if got := w.Header().Get("Moat-Router"); got != tt.wantID || w.Body.String() != tt.wantBody {
			t.Errorf("%s: got %q %q, want %q %q", tt.host, got, w.Body.String(), tt.wantID, tt.wantBody)
		}
	}
}
