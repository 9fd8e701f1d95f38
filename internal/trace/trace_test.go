package trace

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
)

var entryTime = time.Date(2026, 11, 28, 10, 0, 5, 0, time.UTC)

func netEntry(kind string, data map[string]string) audit.Entry {
	return audit.Entry{Seq: 3, Time: entryTime, Kind: kind, Data: data, Hash: "3a3a"}
}

func TestFromEntry(t *testing.T) {
	t.Parallel()
	arrived := time.Date(2026, 11, 28, 10, 0, 4, 123456789, time.UTC)
	full := map[string]string{
		audit.NetTime: arrived.Format(time.RFC3339Nano), audit.NetMethod: "POST", audit.NetScheme: "https",
		audit.NetHost: "api.github.com", audit.NetPath: "/repos/o/r/pulls", audit.NetStatus: "201",
		audit.NetDurationUS: "84250", audit.NetBytesIn: "5120", audit.NetBytesOut: "312",
		audit.NetGrant: "github", audit.NetDecision: "allow",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for key, val := range full {
			m[key] = val
		}
		if v == "<missing>" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	want := Request{Time: arrived, Method: "POST", Scheme: "https", Host: "api.github.com", Path: "/repos/o/r/pulls",
		Status: 201, Duration: 84250 * time.Microsecond, BytesIn: 5120, BytesOut: 312, Grant: "github", Decision: "allow",
		Seq: 3, Hash: "3a3a"}
	but := func(f func(*Request)) Request { r := want; f(&r); return r }
	tests := []struct {
		name   string
		entry  audit.Entry
		want   Request
		wantOK bool
	}{
		{name: "intercepted request", entry: netEntry(audit.KindNetRequest, full), want: want, wantOK: true},
		{name: "other kinds are not requests", entry: netEntry(audit.KindRunCreated, full), wantOK: false},
		{name: "credential injection is not a request", entry: netEntry(audit.KindCredentialInjected, full), wantOK: false},
		{name: "denied by kind", entry: netEntry(audit.KindNetDenied, with(audit.NetStatus, "403")),
			want: but(func(r *Request) { r.Status, r.Denied = 403, true }), wantOK: true},
		{name: "denied by decision", entry: netEntry(audit.KindNetRequest, with(audit.NetDecision, "deny: host not allowed")),
			want: but(func(r *Request) { r.Decision, r.Denied = "deny: host not allowed", true }), wantOK: true},
		{name: "upstream error", entry: netEntry(audit.KindNetRequest, with(audit.NetError, "dial tcp: connection refused")),
			want: but(func(r *Request) { r.Error = "dial tcp: connection refused" }), wantOK: true},
		{name: "missing time falls back to the entry's", entry: netEntry(audit.KindNetRequest, with(audit.NetTime, "<missing>")),
			want: but(func(r *Request) { r.Time = entryTime }), wantOK: true},
		{name: "garbled time falls back to the entry's", entry: netEntry(audit.KindNetRequest, with(audit.NetTime, "teatime")),
			want: but(func(r *Request) { r.Time = entryTime }), wantOK: true},
		{name: "missing status", entry: netEntry(audit.KindNetRequest, with(audit.NetStatus, "<missing>")),
			want: but(func(r *Request) { r.Status = 0 }), wantOK: true},
		{name: "garbled status", entry: netEntry(audit.KindNetRequest, with(audit.NetStatus, "2O1")),
			want: but(func(r *Request) { r.Status = 0 }), wantOK: true},
		{name: "status out of range", entry: netEntry(audit.KindNetRequest, with(audit.NetStatus, "99999")),
			want: but(func(r *Request) { r.Status = 0 }), wantOK: true},
		{name: "negative duration", entry: netEntry(audit.KindNetRequest, with(audit.NetDurationUS, "-5")),
			want: but(func(r *Request) { r.Duration = 0 }), wantOK: true},
		{name: "duration that would overflow", entry: netEntry(audit.KindNetRequest, with(audit.NetDurationUS, "9223372036854775807")),
			want: but(func(r *Request) { r.Duration = 0 }), wantOK: true},
		{name: "duration beyond int64", entry: netEntry(audit.KindNetRequest, with(audit.NetDurationUS, "99999999999999999999")),
			want: but(func(r *Request) { r.Duration = 0 }), wantOK: true},
		{name: "fractional bytes", entry: netEntry(audit.KindNetRequest, with(audit.NetBytesIn, "1.5")),
			want: but(func(r *Request) { r.BytesIn = 0 }), wantOK: true},
		{name: "missing bytes", entry: netEntry(audit.KindNetRequest, with(audit.NetBytesOut, "<missing>")),
			want: but(func(r *Request) { r.BytesOut = 0 }), wantOK: true},
		{name: "no data at all", entry: netEntry(audit.KindNetRequest, nil), want: Request{Time: entryTime, Seq: 3, Hash: "3a3a"}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := FromEntry(tt.entry)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{name: "intercepted", req: Request{Method: "GET", Scheme: "https", Host: "api.github.com", Path: "/user"}, want: "https://api.github.com/user"},
		{name: "plain", req: Request{Method: "GET", Scheme: "http", Host: "deb.debian.org:8080", Path: "/debian/"}, want: "http://deb.debian.org:8080/debian/"},
		{name: "empty path", req: Request{Method: "GET", Scheme: "http", Host: "example.com"}, want: "http://example.com/"},
		{name: "path escaped", req: Request{Method: "GET", Scheme: "https", Host: "example.com", Path: "/a b/ü"}, want: "https://example.com/a%20b/%C3%BC"},
		{name: "blind tunnel, default port", req: Request{Method: "CONNECT", Scheme: "tunnel", Host: "registry.npmjs.org"}, want: "registry.npmjs.org:443"},
		{name: "blind tunnel, own port", req: Request{Method: "CONNECT", Scheme: "tunnel", Host: "github.com:22"}, want: "github.com:22"},
		{name: "refused CONNECT", req: Request{Method: "CONNECT", Host: "evil.example"}, want: "evil.example:443"},
		{name: "IPv6 tunnel", req: Request{Method: "CONNECT", Scheme: "tunnel", Host: "[2001:db8::1]"}, want: "[2001:db8::1]:443"},
		{name: "damaged: no scheme", req: Request{Method: "GET", Host: "example.com", Path: "/x"}, want: "http://example.com/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.req.URL(); got != tt.want {
				t.Fatalf("URL() = %q, want %q", got, tt.want)
			}
		})
	}
}

// writeAuditLog writes run runID's audit log with the events given and
// returns its path.
func writeAuditLog(t testing.TB, runID string, events []audit.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	l, err := audit.Open(path, runID, key, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendBatch(events, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadKeepsRequestsInArrivalOrder(t *testing.T) {
	t.Parallel()
	at := func(s int) string { return entryTime.Add(time.Duration(s) * time.Second).Format(time.RFC3339Nano) }
	path := writeAuditLog(t, "run1", []audit.Event{
		{Kind: audit.KindRunCreated, Data: map[string]string{"name": "web"}},
		{Kind: audit.KindNetRequest, Data: map[string]string{audit.NetTime: at(2), audit.NetMethod: "GET", audit.NetHost: "b"}},
		{Kind: audit.KindCredentialInjected, Data: map[string]string{"grant": "github"}},
		{Kind: audit.KindNetDenied, Data: map[string]string{audit.NetTime: at(1), audit.NetMethod: "CONNECT", audit.NetHost: "a"}},
		{Kind: audit.KindNetRequest, Data: map[string]string{audit.NetTime: at(3), audit.NetMethod: "GET", audit.NetHost: "c"}},
	})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := Read(f)
	if err != nil || l.Torn != 0 {
		t.Fatalf("Read: torn %d, err %v", l.Torn, err)
	}
	var hosts []string
	for _, r := range l.Requests {
		hosts = append(hosts, r.Host)
	}
	if got := strings.Join(hosts, ","); got != "a,b,c" {
		t.Fatalf("hosts in order %s, want a,b,c", got)
	}
}

func TestReadReportsTheLineThatDoesNotParse(t *testing.T) {
	t.Parallel()
	path := writeAuditLog(t, "run1", []audit.Event{{Kind: audit.KindNetRequest, Data: map[string]string{audit.NetHost: "a"}}})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, "{not an entry}\n"...)
	_, err = Read(strings.NewReader(string(data)))
	var le *audit.LineError
	if !errors.As(err, &le) || le.Line != 3 {
		t.Fatalf("got %v, want a LineError on line 3", err)
	}
}

func TestReadSkipsATornTail(t *testing.T) {
	t.Parallel()
	path := writeAuditLog(t, "run1", []audit.Event{{Kind: audit.KindNetRequest, Data: map[string]string{audit.NetHost: "a"}}})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Read(strings.NewReader(string(data) + `{"seq":3,"ti`))
	if err != nil || l.Torn != 12 || len(l.Requests) != 1 {
		t.Fatalf("got %d requests, torn %d, err %v; want 1, 12, nil", len(l.Requests), l.Torn, err)
	}
}
