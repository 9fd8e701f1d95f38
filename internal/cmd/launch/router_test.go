package launch

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/routerctl"
	"github.com/moatsh/moat/internal/state"
)

func TestWritePublished(t *testing.T) {
	r := &state.Run{Name: "web", Ports: []state.Port{
		{HostIP: "127.0.0.1", HostPort: 49153, ContainerPort: 3000},
		{HostIP: "0.0.0.0", HostPort: 9090, ContainerPort: 8080},
		{HostIP: "::1", HostPort: 9091, ContainerPort: 8081},
	}}
	var b bytes.Buffer
	writePublished(&b, r, "127.0.0.1:8880", "\n")
	want := "Published web port 3000: http://web.moat.localhost:8880/ (http://127.0.0.1:49153/)\n" +
		"Published web port 8080: http://8080.web.moat.localhost:8880/ (http://127.0.0.1:9090/)\n" +
		"Published web port 8081: http://8081.web.moat.localhost:8880/ (http://[::1]:9091/)\n"
	if b.String() != want {
		t.Errorf("with the router: got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	writePublished(&b, r, "", "\r\n")
	want = "Published web port 3000: http://127.0.0.1:49153/\r\n" +
		"Published web port 8080: http://127.0.0.1:9090/\r\n" +
		"Published web port 8081: http://[::1]:9091/\r\n"
	if b.String() != want {
		t.Errorf("without the router, on a raw terminal: got\n%q\nwant\n%q", b.String(), want)
	}
}

// homeWith is a moat home whose config.yaml says yaml.
func homeWith(t *testing.T, yaml string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// server answers on a loopback address as a moat router of the home
// whose HomeID is id, or, with "", as any other web server.
func server(t *testing.T, id string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id != "" {
			w.Header().Set(routerctl.IdentHeader, id)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// A run whose router address is taken by another server still starts: one
// warning line says why, and how to choose another address; its ports are
// then announced on their host addresses alone.
func TestAnnouncePortsWhenTheRouterAddressIsTaken(t *testing.T) {
	addr := server(t, "")
	home := homeWith(t, "router: {listen: '"+addr+"'}\n")
	ios, _, _, errOut := iostreams.Test()
	o := &Options{IO: ios}
	r := &state.Run{Name: "web", Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: 49153, ContainerPort: 3000}}}
	o.announcePorts(context.Background(), home, func() string { return "\n" })(r)
	want := "warning: moat router not started: " + addr + " is taken by a server that is not a moat router; " +
		"to use another address, set router.listen in " + filepath.Join(home, "config.yaml") + " (e.g. router: {listen: " + nextPort(addr) + "})\n" +
		"Published web port 3000: http://127.0.0.1:49153/\n"
	if errOut.String() != want {
		t.Errorf("got\n%s\nwant\n%s", errOut, want)
	}
}

// forbidStart fails the test if a router is started.
func forbidStart(t *testing.T) {
	old := routerStarter
	t.Cleanup(func() { routerStarter = old })
	routerStarter = func(context.Context, string, string) error {
		t.Error("a router was started")
		return nil
	}
}

// With router.auto: false moat starts no router, but one started by hand
// on the address is used.
func TestAnnouncePortsWithoutAutoStart(t *testing.T) {
	forbidStart(t)
	r := &state.Run{Name: "web", Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: 49153, ContainerPort: 3000}}}
	home := t.TempDir()
	for _, tt := range []struct {
		name, id, want string
	}{
		{"none serves", "nobody's", "Published web port 3000: http://127.0.0.1:49153/\n"},
		{"one started by hand", routerctl.HomeID(home), "Published web port 3000: http://web.moat.localhost:PORT/ (http://127.0.0.1:49153/)\n"},
	} {
		addr := server(t, tt.id)
		if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte("router: {auto: false, listen: '"+addr+"'}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ios, _, _, errOut := iostreams.Test()
		(&Options{IO: ios}).announcePorts(context.Background(), home, func() string { return "\n" })(r)
		if want := strings.ReplaceAll(tt.want, "PORT", addr[strings.LastIndexByte(addr, ':')+1:]); errOut.String() != want {
			t.Errorf("%s: got %q, want %q", tt.name, errOut, want)
		}
	}
}

func TestAnnouncePortsWithoutPortsStartsNothing(t *testing.T) {
	forbidStart(t)
	ios, _, _, errOut := iostreams.Test()
	(&Options{IO: ios}).announcePorts(context.Background(), homeWith(t, ""), func() string { return "\n" })(&state.Run{Name: "quiet"})
	if errOut.Len() != 0 {
		t.Errorf("got %q, want nothing", errOut)
	}
}
