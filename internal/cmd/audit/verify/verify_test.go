package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/trace"
)

func TestNewCmdVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{name: "bundle", args: []string{"web.json"}, want: Options{Target: "web.json"}},
		{name: "HAR, its own run", args: []string{"--har", "web.har"}, want: Options{HAR: "web.har"}},
		{name: "HAR and a run", args: []string{"--har", "web.har", "web"}, want: Options{HAR: "web.har", Target: "web"}},
		{name: "nothing", args: nil, wantErr: "'verify' takes 1 argument, not 0\n\nUsage: verify {BUNDLE | --har HAR [run | BUNDLE]} [flags]"},
		{name: "two bundles", args: []string{"a.json", "b.json"}, wantErr: "'verify' takes 1 argument, not 2\n\nUsage: verify {BUNDLE | --har HAR [run | BUNDLE]} [flags]"},
		{name: "HAR and two runs", args: []string{"--har", "web.har", "a", "b"}, wantErr: "'verify' takes at most 1 argument, not 2\n\nUsage: verify {BUNDLE | --har HAR [run | BUNDLE]} [flags]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := cmdtest.Parse(NewCmdVerify, tt.args)
			if ok, why := cmdtest.WantError(err, tt.wantErr); !ok {
				t.Fatal(why)
			}
			if tt.wantErr != "" {
				return
			}
			if got.Target != tt.want.Target || got.HAR != tt.want.HAR {
				t.Fatalf("got target %q HAR %q, want %+v", got.Target, got.HAR, tt.want)
			}
		})
	}
}

const (
	webID   = "abc123abc123"
	otherID = "fff000fff000"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 4, 123456789, time.UTC)

// requests are what a run's proxy records: a request with a grant and a
// refusal, among other events.
func requests() []audit.Event {
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	return []audit.Event{
		{Kind: audit.KindRunCreated, Data: map[string]string{"name": "web"}},
		{Kind: audit.KindNetRequest, Data: map[string]string{
			audit.NetTime: at(0), audit.NetMethod: "POST", audit.NetScheme: "https", audit.NetHost: "api.github.com",
			audit.NetPath: "/repos/o/r/pulls", audit.NetStatus: "201", audit.NetDurationUS: "84250",
			audit.NetBytesIn: "5120", audit.NetBytesOut: "312", audit.NetGrant: "github", audit.NetDecision: "allow"}},
		{Kind: audit.KindNetDenied, Data: map[string]string{
			audit.NetTime: at(time.Second), audit.NetMethod: "CONNECT", audit.NetHost: "evil.example",
			audit.NetStatus: "403", audit.NetDurationUS: "40", audit.NetDecision: "deny: host evil.example is not allowed"}},
	}
}

// fixture is a store with two finished runs, web and other, whose logs
// the user's key signed, and web's HAR as 'moat trace --har' writes it.
type fixture struct {
	opts     *Options
	store    *state.Store
	out, err *bytes.Buffer
	har      string
	dir      string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m, _ := cmdtest.Manager(t)
	key, err := audit.LoadOrCreateKey(m.Store.KeysDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{otherID, webID} {
		code := 0
		name := map[string]string{webID: "web", otherID: "other"}[id]
		if err := m.Store.Create(&state.Run{ID: id, Name: name, Status: state.Exited, ExitCode: &code, CreatedAt: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		l, err := audit.Open(m.Store.Path(id, run.AuditFile), id, key, audit.Options{Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendBatch(requests(), false); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ios, _, out, errOut := iostreams.Test()
	f := &fixture{store: m.Store, out: out, err: errOut, dir: t.TempDir(), opts: &Options{IO: ios,
		Manager: func(context.Context) (*run.Manager, error) { return m, nil },
		Store:   func() (*state.Store, error) { return m.Store, nil }}}
	f.har = f.writeHAR(t, webID)
	f.opts.HAR = f.har
	return f
}

// writeHAR writes run id's HAR as 'moat trace --har' does.
func (f *fixture) writeHAR(t *testing.T, id string) string {
	t.Helper()
	log, err := os.Open(f.store.Path(id, run.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	l, err := trace.Read(log)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := trace.WriteHAR(&buf, l, id, "test"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, id+".har")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// export writes run id's bundle as 'moat audit --export' does.
func (f *fixture) export(t *testing.T, id string) string {
	t.Helper()
	log, err := os.Open(f.store.Path(id, run.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	pub, err := audit.LoadPublicKey(f.store.KeysDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := audit.NewBundle(log, id, pub, t0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, id+"-audit.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func Test_verifyHAR(t *testing.T) {
	t.Parallel()
	const ok = "  2 entries: every request the log records in its range, unchanged and in order\n"
	tests := []struct {
		name     string
		prepare  func(t *testing.T, f *fixture)
		wantOut  []string // in order, on stdout
		wantErr  string   // the error's start
		wantHint string   // the hint's start
	}{
		{name: "its own run, by default", wantOut: []string{"run abc123abc123 (web): OK\n", "HAR {har} (run abc123abc123): OK\n" + ok}},
		{name: "its own run, by name", prepare: func(t *testing.T, f *fixture) { f.opts.Target = "web" },
			wantOut: []string{"run abc123abc123 (web): OK\n", "HAR {har} (run abc123abc123): OK\n" + ok}},
		{name: "a bundle of its run", prepare: func(t *testing.T, f *fixture) { f.opts.Target = f.export(t, webID) },
			wantOut: []string{"bundle {target} (run abc123abc123): OK\n", "HAR {har} (run abc123abc123): OK\n" + ok}},
		{name: "another run", prepare: func(t *testing.T, f *fixture) { f.opts.Target = "other" },
			wantErr:  "{har} was written from run abc123abc123, not from run fff000fff000 (other)",
			wantHint: "Run 'moat audit verify --har {har}' to check it against its own run."},
		{name: "a bundle of another run", prepare: func(t *testing.T, f *fixture) { f.opts.Target = f.export(t, otherID) },
			wantOut: []string{"bundle {target} (run fff000fff000): OK\n"},
			wantErr: "{target} holds the audit log of run fff000fff000, but {har} was written from run abc123abc123"},
		{name: "a HAR of another run, its run ID edited", prepare: func(t *testing.T, f *fixture) {
			f.opts.HAR = f.writeHAR(t, otherID)
			rewrite(t, f.opts.HAR, otherID, webID)
		}, wantOut: []string{"run abc123abc123 (web): OK\n", "HAR {har} (run abc123abc123): DOES NOT MATCH THE AUDIT LOG\n  log (audit entry 4): _moat_audit_last_hash: "},
			wantErr:  "HAR {har} (run abc123abc123) does not match the audit log: log (audit entry 4): _moat_audit_last_hash: is not the hash of the log's entry 4",
			wantHint: "The HAR was changed after moat wrote it: do not trust it."},
		{name: "a status edited", prepare: func(t *testing.T, f *fixture) { rewrite(t, f.opts.HAR, `"status": 403`, `"status": 200`) },
			wantOut:  []string{"run abc123abc123 (web): OK\n", "HAR {har} (run abc123abc123): DOES NOT MATCH THE AUDIT LOG\n  log.entries[1] (audit entry 3): response.status: 200 in the HAR, 403 in the audit log\n"},
			wantErr:  "HAR {har} (run abc123abc123) does not match the audit log: log.entries[1] (audit entry 3): response.status: 200 in the HAR, 403 in the audit log",
			wantHint: "The HAR was changed after moat wrote it: do not trust it. The run's own log says what happened: 'moat trace abc123abc123' prints it"},
		{name: "the log tampered with", prepare: func(t *testing.T, f *fixture) {
			rewrite(t, f.store.Path(webID, run.AuditFile), `"status":"403"`, `"status":"200"`)
		}, wantOut: []string{"run abc123abc123 (web): TAMPERED\n"}, wantErr: "the audit log of run abc123abc123 (web) does not verify: entry 3 (line 3): was changed"},
		{name: "a run not on this machine", prepare: func(t *testing.T, f *fixture) {
			rewrite(t, f.opts.HAR, `"_moat_run_id": "abc123abc123"`, `"_moat_run_id": "0123456789ab"`)
		}, wantErr: "{har} was written from run 0123456789ab, which is not on this machine",
			wantHint: "Verify it with a bundle of that run's log, exported where it ran ('moat audit 0123456789ab --export FILE'): 'moat audit verify --har {har} FILE'."},
		{name: "a truncated HAR", prepare: func(t *testing.T, f *fixture) {
			data, _ := os.ReadFile(f.opts.HAR)
			os.WriteFile(f.opts.HAR, data[:len(data)/2], 0o644)
		}, wantErr: "reading {har}: line ", wantHint: "Only a HAR written by 'moat trace RUN --har FILE' can be verified"},
		{name: "no HAR", prepare: func(t *testing.T, f *fixture) { f.opts.HAR = filepath.Join(f.dir, "none.har") },
			wantErr: "open {har}: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if tt.prepare != nil {
				tt.prepare(t, f)
			}
			expand := strings.NewReplacer("{har}", f.opts.HAR, "{target}", f.opts.Target).Replace
			err := verifyHAR(context.Background(), f.opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), expand(tt.wantErr))):
				t.Fatalf("got error %v, want one starting %q", err, expand(tt.wantErr))
			}
			if hint := cmdutil.HintOf(err); !strings.HasPrefix(hint, expand(tt.wantHint)) || (tt.wantHint == "") != (hint == "") {
				t.Fatalf("hint %q, want one starting %q", hint, expand(tt.wantHint))
			}
			out, at := f.out.String(), 0
			for _, w := range tt.wantOut {
				i := strings.Index(out[at:], expand(w))
				if i < 0 {
					t.Fatalf("stdout lacks %q after byte %d:\n%s", expand(w), at, out)
				}
				at += i + len(expand(w))
			}
			if len(tt.wantOut) == 0 && out != "" {
				t.Fatalf("stdout %q, want nothing", out)
			}
			if f.err.String() != "" {
				t.Fatalf("stderr %q, want nothing", f.err.String())
			}
		})
	}
}

// TestVerifyBundleUnchanged: without --har, verify checks a bundle as
// before.
func TestVerifyBundleUnchanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.opts.HAR, f.opts.Target = "", f.export(t, webID)
	if err := verifyBundle(f.opts); err != nil {
		t.Fatal(err)
	}
	if want := "bundle " + f.opts.Target + " (run abc123abc123): OK\n"; !strings.HasPrefix(f.out.String(), want) {
		t.Fatalf("stdout %q, want it to start %q", f.out.String(), want)
	}
}
