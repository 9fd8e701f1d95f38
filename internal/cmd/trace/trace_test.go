package trace

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/trace"
)

func TestNewCmdTrace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{name: "defaults", args: nil, want: Options{}},
		{name: "run and --network", args: []string{"web", "--network"}, want: Options{Ref: "web", Network: true}},
		{name: "--json", args: []string{"--json"}, want: Options{JSON: true}},
		{name: "--har file", args: []string{"abc1", "--har", "out.har"}, want: Options{Ref: "abc1", HAR: "out.har"}},
		{name: "--har stdout", args: []string{"--har", "-"}, want: Options{HAR: "-"}},
		{name: "--json and --har", args: []string{"--json", "--har", "x.har"}, wantErr: "--json and --har cannot be used together"},
		{name: "two runs", args: []string{"a", "b"}, wantErr: "'trace' takes at most 1 argument, not 2\n\nUsage: trace [run] [flags]"},
		{name: "--follow", args: []string{"-f", "web"}, want: Options{Ref: "web", Follow: true}},
		{name: "--follow and --json", args: []string{"-f", "--json"}, wantErr: "--follow prints the table: it cannot be used with --json or --har"},
		{name: "--follow and --har", args: []string{"--follow", "--har", "x.har"}, wantErr: "--follow prints the table: it cannot be used with --json or --har"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := cmdtest.Parse(NewCmdTrace, tt.args)
			if ok, why := cmdtest.WantError(err, tt.wantErr); !ok {
				t.Fatal(why)
			}
			if tt.wantErr != "" {
				return
			}
			if got.Ref != tt.want.Ref || got.Network != tt.want.Network || got.JSON != tt.want.JSON || got.HAR != tt.want.HAR || got.Follow != tt.want.Follow {
				t.Fatalf("got ref %q network %v json %v har %q, want %+v", got.Ref, got.Network, got.JSON, got.HAR, tt.want)
			}
			if got.Version != "test" || got.Location != time.Local {
				t.Fatalf("dependencies not copied from the factory: version %q, location %v", got.Version, got.Location)
			}
		})
	}
}

const runID = "abc123abc123"

var t0 = time.Date(2026, 11, 28, 10, 0, 4, 123456789, time.UTC)

// netEvents are what a run's proxy records: an intercepted request with a
// grant, a refused CONNECT, a blind tunnel and a request that failed
// upstream, interleaved with other events as in a real log.
func netEvents() []audit.Event {
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	return []audit.Event{
		{Kind: audit.KindRunCreated, Data: map[string]string{"name": "web"}},
		{Kind: audit.KindCredentialInjected, Data: map[string]string{"grant": "github", "host": "api.github.com", "method": "POST", "path": "/repos/o/r/pulls"}},
		{Kind: audit.KindNetRequest, Data: map[string]string{
			audit.NetTime: at(0), audit.NetMethod: "POST", audit.NetScheme: "https", audit.NetHost: "api.github.com",
			audit.NetPath: "/repos/o/r/pulls", audit.NetStatus: "201", audit.NetDurationUS: "84250",
			audit.NetBytesIn: "5120", audit.NetBytesOut: "312", audit.NetGrant: "github", audit.NetDecision: "allow"}},
		{Kind: audit.KindNetDenied, Data: map[string]string{
			audit.NetTime: at(time.Second), audit.NetMethod: "CONNECT", audit.NetHost: "evil.example",
			audit.NetStatus: "403", audit.NetDurationUS: "40", audit.NetBytesIn: "0", audit.NetBytesOut: "0",
			audit.NetDecision: "deny: host evil.example is not allowed"}},
		{Kind: audit.KindNetRequest, Data: map[string]string{
			audit.NetTime: at(2 * time.Second), audit.NetMethod: "CONNECT", audit.NetScheme: "tunnel", audit.NetHost: "registry.npmjs.org",
			audit.NetStatus: "200", audit.NetDurationUS: "3012000", audit.NetBytesIn: "1048576", audit.NetBytesOut: "4096",
			audit.NetDecision: "allow"}},
		{Kind: audit.KindNetRequest, Data: map[string]string{
			audit.NetTime: at(3 * time.Second), audit.NetMethod: "GET", audit.NetScheme: "http", audit.NetHost: "deb.debian.org",
			audit.NetPath: "/debian/dists/bookworm/InRelease", audit.NetStatus: "502", audit.NetDurationUS: "12000",
			audit.NetBytesIn: "0", audit.NetBytesOut: "0", audit.NetDecision: "allow", audit.NetError: "dial tcp: connection refused"}},
	}
}

// newRun stores a finished run and writes its audit log with events,
// signed with a test key, and returns the store.
func newRun(t *testing.T, store *state.Store, id, name string, created time.Time, events []audit.Event) {
	t.Helper()
	code := 0
	r := &state.Run{ID: id, Name: name, Status: state.Exited, ExitCode: &code, CreatedAt: created}
	if err := store.Create(r); err != nil {
		t.Fatal(err)
	}
	if events == nil {
		return
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	l, err := audit.Open(store.Path(id, run.AuditFile), id, key, audit.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendBatch(events, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// setup makes a store with the run "web" (netEvents) and an older run
// "quiet" that made no requests, and options for a trace command on it.
func setup(t *testing.T) (*Options, *state.Store, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	m, _ := cmdtest.Manager(t)
	newRun(t, m.Store, "fff000fff000", "quiet", t0.Add(-time.Hour), []audit.Event{{Kind: audit.KindRunCreated}})
	newRun(t, m.Store, runID, "web", t0, netEvents())
	ios, _, out, errOut := iostreams.Test()
	return &Options{
		IO:       ios,
		Manager:  func(context.Context) (*run.Manager, error) { return m, nil },
		Store:    func() (*state.Store, error) { return m.Store, nil },
		Version:  "test",
		Location: time.FixedZone("CET", 3600),
	}, m.Store, out, errOut
}

func TestTraceTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tty  bool
		want string
	}{
		{name: "pipe: tab-separated, RFC 3339, byte counts", tty: false, want: "" +
			"TIME\tMETHOD\tURL\tSTATUS\tDURATION\tIN\tOUT\tGRANT\tDECISION\n" +
			"2026-11-28T10:00:04.123Z\tPOST\thttps://api.github.com/repos/o/r/pulls\t201\t84ms\t5120\t312\tgithub\tallow\n" +
			"2026-11-28T10:00:05.123Z\tCONNECT\tevil.example:443\t403\t0ms\t0\t0\t-\tdeny: host evil.example is not allowed\n" +
			"2026-11-28T10:00:06.123Z\tCONNECT\tregistry.npmjs.org:443\t200\t3.01s\t1048576\t4096\t-\tallow\n" +
			"2026-11-28T10:00:07.123Z\tGET\thttp://deb.debian.org/debian/dists/bookworm/InRelease\t502\t12ms\t0\t0\t-\tallow\n"},
		{name: "terminal: aligned, local times, short sizes", tty: true, want: "" +
			"TIME          METHOD   URL                                                    STATUS  DURATION  IN     OUT    GRANT   DECISION\n" +
			"11:00:04.123  POST     https://api.github.com/repos/o/r/pulls                 201     84ms      5.1kB  312B   github  allow\n" +
			"11:00:05.123  CONNECT  evil.example:443                                       403     0ms       0B     0B     -       deny: host evil.example is not allowed\n" +
			"11:00:06.123  CONNECT  registry.npmjs.org:443                                 200     3.01s     1.0MB  4.1kB  -       allow\n" +
			"11:00:07.123  GET      http://deb.debian.org/debian/dists/bookworm/InRelease  502     12ms      0B     0B     -       allow\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, _, out, errOut := setup(t)
			opts.IO.SetTTY(false, tt.tty, false)
			if err := traceRun(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("stdout\n%s\nwant\n%s", out.String(), tt.want)
			}
			if errOut.String() != "" {
				t.Fatalf("stderr %q, want nothing", errOut.String())
			}
		})
	}
}

func TestTraceJSON(t *testing.T) {
	t.Parallel()
	opts, _, out, errOut := setup(t)
	opts.Ref, opts.JSON = "web", true
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, out.String())
	}
	if len(got) != 4 || errOut.String() != "" {
		t.Fatalf("%d requests, stderr %q; want 4 and nothing", len(got), errOut.String())
	}
	want := `{
    "time": "2026-11-28T10:00:04.123456789Z",
    "method": "POST",
    "url": "https://api.github.com/repos/o/r/pulls",
    "scheme": "https",
    "host": "api.github.com",
    "path": "/repos/o/r/pulls",
    "status": 201,
    "duration_ms": 84.25,
    "bytes_in": 5120,
    "bytes_out": 312,
    "grant": "github",
    "decision": "allow",
    "error": "",
    "denied": false,
    "kind": "request"
  }`
	if !strings.HasPrefix(out.String(), "[\n  "+want+",\n") {
		t.Fatalf("first element not as documented:\n%s", out.String())
	}
	if got[1]["denied"] != true || got[1]["status"] != 403.0 || got[3]["error"] != "dial tcp: connection refused" {
		t.Fatalf("denied and failed requests wrong: %v, %v", got[1], got[3])
	}
}

func TestTraceHAR(t *testing.T) {
	t.Parallel()
	t.Run("to a file", func(t *testing.T) {
		t.Parallel()
		opts, _, out, errOut := setup(t)
		opts.HAR = filepath.Join(t.TempDir(), "web.har")
		if err := traceRun(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		if out.String() != "" {
			t.Fatalf("stdout %q, want nothing", out.String())
		}
		if want := "Wrote 4 requests to " + opts.HAR + "\n"; errOut.String() != want {
			t.Fatalf("stderr %q, want %q", errOut.String(), want)
		}
		data, err := os.ReadFile(opts.HAR)
		if err != nil {
			t.Fatal(err)
		}
		checkHAR(t, data, 4)
	})
	t.Run("to stdout", func(t *testing.T) {
		t.Parallel()
		opts, _, out, errOut := setup(t)
		opts.HAR = "-"
		if err := traceRun(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		if errOut.String() != "" {
			t.Fatalf("stderr %q, want nothing", errOut.String())
		}
		checkHAR(t, out.Bytes(), 4)
	})
}

// checkHAR checks the archive's frame; internal/trace checks every field.
func checkHAR(t *testing.T, data []byte, n int) {
	t.Helper()
	var har struct {
		Log struct {
			Version string `json:"version"`
			Creator struct{ Name, Version string }
			RunID   string `json:"_moat_run_id"`
			LastSeq uint64 `json:"_moat_audit_last_seq"`
			Entries []struct {
				Request  struct{ Method, URL string }
				Decision string `json:"_moat_decision"`
				Seq      uint64 `json:"_moat_audit_seq"`
			}
		}
	}
	if err := json.Unmarshal(data, &har); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if har.Log.Version != "1.2" || har.Log.Creator.Name != "moat" || har.Log.Creator.Version != "test" || len(har.Log.Entries) != n {
		t.Fatalf("HAR %s by %+v with %d entries, want 1.2 by moat test with %d", har.Log.Version, har.Log.Creator, len(har.Log.Entries), n)
	}
	if har.Log.RunID != runID && har.Log.RunID != "fff000fff000" || har.Log.LastSeq == 0 {
		t.Fatalf("HAR linked to run %q up to entry %d, want a run of the test and its last entry", har.Log.RunID, har.Log.LastSeq)
	}
	if n == 0 {
		return
	}
	// The log: run.created, then the credential.injected of the first request.
	if e := har.Log.Entries[0]; e.Seq != 3 || har.Log.RunID != runID {
		t.Fatalf("first entry linked to audit entry %d of run %s, want 3 of %s", e.Seq, har.Log.RunID, runID)
	}
	if e := har.Log.Entries[1]; e.Request.Method != "CONNECT" || e.Decision != "deny: host evil.example is not allowed" {
		t.Fatalf("denied entry %+v", e)
	}
}

func TestTraceWithoutRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		json     bool
		har      string
		wantOut  string
		wantErr  string
		wantFile bool
	}{
		{name: "table", wantErr: "no network requests recorded for run fff000fff000\n"},
		{name: "json", json: true, wantOut: "[]\n", wantErr: "no network requests recorded for run fff000fff000\n"},
		{name: "har", har: "quiet.har", wantErr: "Wrote 0 requests to ", wantFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, _, out, errOut := setup(t)
			opts.Ref, opts.JSON = "quiet", tt.json
			if tt.har != "" {
				opts.HAR = filepath.Join(t.TempDir(), tt.har)
			}
			if err := traceRun(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.wantOut || !strings.HasPrefix(errOut.String(), tt.wantErr) {
				t.Fatalf("stdout %q stderr %q, want %q and %q", out.String(), errOut.String(), tt.wantOut, tt.wantErr)
			}
			if tt.wantFile {
				data, err := os.ReadFile(opts.HAR)
				if err != nil {
					t.Fatal(err)
				}
				checkHAR(t, data, 0)
			}
		})
	}
}

func TestTraceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ref      string
		damage   func(t *testing.T, store *state.Store)
		wantErr  string
		wantHint string
	}{
		{name: "unknown run", ref: "nope", wantErr: `no run matches "nope"`, wantHint: "Run 'moat list -a' to see your runs."},
		{name: "line that does not parse", ref: "web", damage: func(t *testing.T, store *state.Store) {
			appendTo(t, store.Path(runID, run.AuditFile), "{\"seq\":9,garbage}\n")
		}, wantErr: "reading the audit log of run abc123abc123: line 8: not a valid entry: expected ,\"time\":",
			wantHint: "Run 'moat audit abc123abc123' to check the log."},
		{name: "no audit log", ref: "web", damage: func(t *testing.T, store *state.Store) {
			if err := os.Remove(store.Path(runID, run.AuditFile)); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "run abc123abc123 has no audit log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, store, out, _ := setup(t)
			opts.Ref = tt.ref
			if tt.damage != nil {
				tt.damage(t, store)
			}
			err := traceRun(context.Background(), opts)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one starting %q", err, tt.wantErr)
			}
			if got := cmdutil.HintOf(err); got != tt.wantHint {
				t.Fatalf("hint %q, want %q", got, tt.wantHint)
			}
			if out.String() != "" {
				t.Fatalf("stdout %q, want nothing", out.String())
			}
		})
	}
}

func TestTraceNotesATornTail(t *testing.T) {
	t.Parallel()
	opts, store, out, errOut := setup(t)
	appendTo(t, store.Path(runID, run.AuditFile), `{"seq":9,"ti`)
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 5 {
		t.Fatalf("want the header and 4 requests, got\n%s", out.String())
	}
	want := "note: the audit log of run abc123abc123 ends in a partial entry (12 bytes), left out; 'moat audit abc123abc123' says more\n"
	if errOut.String() != want {
		t.Fatalf("stderr %q, want %q", errOut.String(), want)
	}
}

// TestTraceNotesATruncatedLog checks that a trace whose requests the
// audit log's cap left out says so on stderr, with the counts.
func TestTraceNotesATruncatedLog(t *testing.T) {
	t.Parallel()
	m, _ := cmdtest.Manager(t)
	events := append(netEvents(), audit.Event{Kind: audit.KindLogTruncated, Data: map[string]string{
		"limit_bytes": "67108864", "dropped": "3", "dropped.net.request": "2", "dropped.credential.injected": "1",
		"first_dropped": "2026-01-02T03:04:05Z", "last_dropped": "2026-01-02T03:04:06Z"}})
	newRun(t, m.Store, runID, "web", t0, events)
	ios, _, out, errOut := iostreams.Test()
	opts := &Options{IO: ios, Manager: func(context.Context) (*run.Manager, error) { return m, nil },
		Store: func() (*state.Store, error) { return m.Store, nil }, Version: "test", Location: time.UTC}
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 5 {
		t.Fatalf("want the header and 4 requests, got\n%s", out.String())
	}
	want := "note: the trace of run abc123abc123 is incomplete: the log reached its cap of 64 MiB: 3 request events " +
		"from 2026-01-02T03:04:05Z to 2026-01-02T03:04:06Z were not recorded (credential.injected 1, net.request 2)\n"
	if errOut.String() != want {
		t.Fatalf("stderr %q, want %q", errOut.String(), want)
	}
}

func TestTraceWithEngineDown(t *testing.T) {
	t.Parallel()
	opts, _, out, _ := setup(t)
	opts.Manager = func(context.Context) (*run.Manager, error) { return nil, errors.New("cannot reach the Docker engine") }
	opts.JSON = true
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"host": "registry.npmjs.org"`) {
		t.Fatalf("the stored runs were not used:\n%s", out.String())
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestTraceTableHostileRequest: the host and path are the agent's; a
// request naming control sequences shows in the table without them.
func TestTraceTableHostileRequest(t *testing.T) {
	t.Parallel()
	req := trace.Request{Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), Method: "GET", Scheme: "http",
		Host: "evil.example", Path: "/\x1b]52;c;cm0gLXJmIH4=\x07x\x1b]0;pwned\x07\x9b2J\ny", Status: 403,
		Decision: "deny: host \x1b]0;t\x07evil.example is not allowed"}
	for _, tty := range []bool{false, true} {
		var buf bytes.Buffer
		if err := writeTable(&buf, []trace.Request{req}, tty, time.UTC); err != nil {
			t.Fatal(err)
		}
		got := buf.String()
		if strings.ContainsAny(got, "\x1b\x07\r") || !utf8.ValidString(got) || strings.Count(got, "\n") != 2 {
			t.Errorf("tty %v: control characters or extra lines in %q", tty, got)
		}
		if !strings.Contains(got, "deny: host evil.example is not allowed") {
			t.Errorf("tty %v: the decision's text is gone: %q", tty, got)
		}
	}
}

// TestTraceShowsSSHSignatures: the run's SSH agent's signatures and
// refusals are trace lines among the requests (SSH-SIGN, the host, the
// grant, the verdict), and JSON elements of kind ssh-sign with the key's
// fingerprint; a HAR holds requests alone.
func TestTraceShowsSSHSignatures(t *testing.T) {
	t.Parallel()
	opts, store, out, _ := setup(t)
	const id = "cafe00cafe00"
	newRun(t, store, id, "pusher", t0, []audit.Event{
		{Kind: audit.KindNetRequest, Data: map[string]string{
			audit.NetTime: t0.Add(-time.Second).Format(time.RFC3339Nano), audit.NetMethod: "CONNECT", audit.NetScheme: "tunnel",
			audit.NetHost: "git.test:2222", audit.NetStatus: "200", audit.NetDecision: "allow"}},
		{Kind: audit.KindSSHSign, Data: map[string]string{"grant": "deploy", "host": "git.test:2222", "key": "SHA256:abc", "verdict": "signed"}},
		{Kind: audit.KindSSHSign, Data: map[string]string{"grant": "deploy", "host": "other.test:22", "key": "SHA256:abc", "verdict": "refused", "reason": "host not granted for this key"}},
	})
	opts.Ref = "pusher"
	opts.IO.SetTTY(false, false, false)
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	want := "TIME\tMETHOD\tURL\tSTATUS\tDURATION\tIN\tOUT\tGRANT\tDECISION\n" +
		"2026-11-28T10:00:03.123Z\tCONNECT\tgit.test:2222\t200\t0ms\t0\t0\t-\tallow\n" +
		"2026-11-28T10:00:04.123Z\tSSH-SIGN\tssh://git.test:2222\t-\t0ms\t0\t0\tdeploy\tsigned\n" +
		"2026-11-28T10:00:04.123Z\tSSH-SIGN\tssh://other.test:22\t-\t0ms\t0\t0\tdeploy\trefused: host not granted for this key\n"
	if out.String() != want {
		t.Fatalf("stdout\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	opts.JSON = true
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1]["kind"] != "ssh-sign" || got[1]["key"] != "SHA256:abc" || got[2]["denied"] != true || got[0]["kind"] != "request" {
		t.Fatalf("JSON %v: want a request, then a signature and a refused one", got)
	}
	out.Reset()
	opts.JSON, opts.HAR = false, "-"
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "SSH-SIGN") || !strings.Contains(out.String(), "git.test:2222") {
		t.Fatalf("the HAR holds a signature, or not the request:\n%s", out.String())
	}
}

// TestTraceFollowFinishedRun follows a run that has ended: its whole trace
// is printed, in the table's columns, and the command returns.
func TestTraceFollowFinishedRun(t *testing.T) {
	t.Parallel()
	opts, _, out, errOut := setup(t)
	opts.Ref, opts.Follow = "web", true
	if err := traceRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	want := "TIME\tMETHOD\tURL\tSTATUS\tDURATION\tIN\tOUT\tGRANT\tDECISION\n" +
		"2026-11-28T10:00:04.123Z\tPOST\thttps://api.github.com/repos/o/r/pulls\t201\t84ms\t5120\t312\tgithub\tallow\n" +
		"2026-11-28T10:00:05.123Z\tCONNECT\tevil.example:443\t403\t0ms\t0\t0\t-\tdeny: host evil.example is not allowed\n" +
		"2026-11-28T10:00:06.123Z\tCONNECT\tregistry.npmjs.org:443\t200\t3.01s\t1048576\t4096\t-\tallow\n" +
		"2026-11-28T10:00:07.123Z\tGET\thttp://deb.debian.org/debian/dists/bookworm/InRelease\t502\t12ms\t0\t0\t-\tallow\n"
	if out.String() != want || errOut.String() != "" {
		t.Fatalf("stdout:\n%s\nstderr %q; want:\n%s", out, errOut, want)
	}
}

func TestWriteFollowRowOnATerminal(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := iostreams.Test()
	ios.SetTTY(false, true, false)
	o := &Options{IO: ios}
	o.writeFollowRow(tableHeader, true)
	o.writeFollowRow([]string{"10:00:04.123", "CONNECT", "evil.example:443", "403", "0ms", "0B", "0B", "-", "deny: x"}, true)
	want := "TIME          METHOD   URL                                           STATUS  DURATION  IN       OUT      GRANT     DECISION\n" +
		"10:00:04.123  CONNECT  evil.example:443                              403     0ms       0B       0B       -         deny: x\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
}
