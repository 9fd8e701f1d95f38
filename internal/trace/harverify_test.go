package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
)

// linkedRun is a run's audit log, read back as moat reads it, and the
// HAR 'moat trace --har' writes from it.
type linkedRun struct {
	id      string
	entries []audit.Entry
	log     Log
	har     []byte
}

// harEvents are a run's events: four requests (one with a grant, one
// refused, a tunnel, one failed upstream) between other events. The
// second request arrived first, so the log's order (the order requests
// ended) is not the HAR's (the order they arrived).
func harEvents() []audit.Event {
	at := func(ms int) string {
		return entryTime.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano)
	}
	req := func(kind, tm, method, scheme, host, path, status, grant, decision string) audit.Event {
		return audit.Event{Kind: kind, Data: map[string]string{audit.NetTime: tm, audit.NetMethod: method, audit.NetScheme: scheme,
			audit.NetHost: host, audit.NetPath: path, audit.NetStatus: status, audit.NetDurationUS: "1500",
			audit.NetBytesIn: "120", audit.NetBytesOut: "30", audit.NetGrant: grant, audit.NetDecision: decision}}
	}
	return []audit.Event{
		{Kind: audit.KindRunCreated, Data: map[string]string{"name": "web"}},
		{Kind: audit.KindCredentialInjected, Data: map[string]string{"grant": "github"}},
		req(audit.KindNetRequest, at(20), "POST", "https", "api.github.com", "/repos/o/r/pulls", "201", "github", "allow"),
		req(audit.KindNetRequest, at(10), "GET", "https", "api.github.com", "/user", "200", "", "allow"),
		req(audit.KindNetDenied, at(30), "CONNECT", "", "evil.example", "", "403", "", "deny: host evil.example is not allowed"),
		{Kind: audit.KindContainerStarted},
		req(audit.KindNetRequest, at(40), "CONNECT", "tunnel", "registry.npmjs.org", "", "200", "", "allow"),
		req(audit.KindNetRequest, at(50), "GET", "http", "deb.debian.org", "/debian/", "502", "", "allow"),
	}
}

// newLinkedRun writes run id's log with events and its HAR.
func newLinkedRun(t testing.TB, id string, events []audit.Event) linkedRun {
	t.Helper()
	path := writeAuditLog(t, id, events)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	run := linkedRun{id: id}
	if run.log, err = Read(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for ar := audit.NewReader(bytes.NewReader(data)); ; {
		e, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		run.entries = append(run.entries, e)
	}
	var buf bytes.Buffer
	if err := WriteHAR(&buf, run.log, id, "test"); err != nil {
		t.Fatal(err)
	}
	run.har = buf.Bytes()
	return run
}

// edit decodes a HAR, lets change alter it, and encodes it again.
func edit(t *testing.T, har []byte, change func(log map[string]any, entries []any) []any) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(har, &doc); err != nil {
		t.Fatal(err)
	}
	log := doc["log"].(map[string]any)
	log["entries"] = change(log, log["entries"].([]any))
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entryAt(entries []any, i int) map[string]any { return entries[i].(map[string]any) }

func verify(t *testing.T, har []byte, entries []audit.Entry) HARReport {
	t.Helper()
	h, err := ReadHAR(bytes.NewReader(har))
	if err != nil {
		t.Fatalf("ReadHAR: %v", err)
	}
	return VerifyHAR(h, entries)
}

func problems(r HARReport) string {
	var lines []string
	for _, p := range r.Problems {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

func TestWriteHARLinksEveryEntryToTheLog(t *testing.T) {
	t.Parallel()
	run := newLinkedRun(t, "run0001", harEvents())
	var doc struct {
		Log struct {
			RunID    string `json:"_moat_run_id"`
			FirstSeq uint64 `json:"_moat_audit_first_seq"`
			LastSeq  uint64 `json:"_moat_audit_last_seq"`
			LastHash string `json:"_moat_audit_last_hash"`
			Entries  []struct {
				Request struct{ URL string }
				Seq     uint64 `json:"_moat_audit_seq"`
				Hash    string `json:"_moat_audit_hash"`
			}
		}
	}
	if err := json.Unmarshal(run.har, &doc); err != nil {
		t.Fatal(err)
	}
	last := run.entries[len(run.entries)-1]
	if doc.Log.RunID != "run0001" || doc.Log.FirstSeq != 1 || doc.Log.LastSeq != last.Seq || doc.Log.LastHash != last.Hash {
		t.Fatalf("log link %s %d..%d %s, want run0001 1..%d %s", doc.Log.RunID, doc.Log.FirstSeq, doc.Log.LastSeq, doc.Log.LastHash, last.Seq, last.Hash)
	}
	// In arrival order: the GET arrived before the POST, which ended first.
	var got []string
	for _, e := range doc.Log.Entries {
		a := run.entries[e.Seq-1]
		if a.Seq != e.Seq || a.Hash != e.Hash {
			t.Fatalf("entry for %s links to %d %s, which the log holds as %d %s", e.Request.URL, e.Seq, e.Hash, a.Seq, a.Hash)
		}
		got = append(got, a.Data[audit.NetMethod]+" "+a.Data[audit.NetHost])
	}
	want := "GET api.github.com, POST api.github.com, CONNECT evil.example, CONNECT registry.npmjs.org, GET deb.debian.org"
	if strings.Join(got, ", ") != want {
		t.Fatalf("entries link to %s, want %s", strings.Join(got, ", "), want)
	}
}

func TestVerifyHARAcceptsWhatMoatWrote(t *testing.T) {
	t.Parallel()
	run := newLinkedRun(t, "run0001", harEvents())
	// Re-encoded (other indentation, key order) it still matches: the
	// check is on values, not bytes.
	for _, har := range [][]byte{run.har, edit(t, run.har, func(_ map[string]any, e []any) []any { return e })} {
		r := verify(t, har, run.entries)
		if len(r.Problems) > 0 || r.Entries != 5 || r.Requests != 5 || r.Before+r.After != 0 {
			t.Fatalf("report %+v, problems:\n%s", r, problems(r))
		}
		text, err := r.Describe("HAR web.har (run run0001)")
		want := "HAR web.har (run run0001): OK\n  5 entries: every request the log records in its range, unchanged and in order\n"
		if err != nil || text != want {
			t.Fatalf("Describe: %q, %v; want %q", text, err, want)
		}
	}
}

func TestVerifyHARNamesEachChange(t *testing.T) {
	t.Parallel()
	run := newLinkedRun(t, "run0001", harEvents())
	other := newLinkedRun(t, "run0002", harEvents())
	// The audit entries of the GET (the HAR's first) and the tunnel.
	const get, tunnel = 4, 7
	// With no entry linked, every request of the log is missing.
	allMissing := []string{
		`log.entries[0] (audit entry 3): missing: the log records POST https://api.github.com/repos/o/r/pulls at 2026-11-28T10:00:05.02Z here, which the HAR does not hold`,
		`log.entries[0] (audit entry 4): missing: the log records GET https://api.github.com/user at 2026-11-28T10:00:05.01Z here, which the HAR does not hold`,
		`log.entries[0] (audit entry 5): missing: the log records CONNECT https://evil.example:443 at 2026-11-28T10:00:05.03Z here, which the HAR does not hold`,
		`log.entries[0] (audit entry 7): missing: the log records CONNECT https://registry.npmjs.org:443 at 2026-11-28T10:00:05.04Z here, which the HAR does not hold`,
		`log.entries[0] (audit entry 8): missing: the log records GET http://deb.debian.org/debian/ at 2026-11-28T10:00:05.05Z here, which the HAR does not hold`,
	}
	tests := []struct {
		name    string
		har     []byte
		entries []audit.Entry
		want    []string
	}{
		{name: "status edited", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			entryAt(e, 2)["response"].(map[string]any)["status"] = 200.0
			return e
		}), want: []string{
			`log.entries[2] (audit entry 5): response.status: 200 in the HAR, 403 in the audit log`,
		}},
		{name: "URL and decision edited", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			entryAt(e, 1)["request"].(map[string]any)["url"] = "https://api.github.com/user"
			entryAt(e, 1)["_moat_decision"] = "deny: not today"
			return e
		}), want: []string{
			`log.entries[1] (audit entry 3): _moat_decision: "deny: not today" in the HAR, "allow" in the audit log`,
			`log.entries[1] (audit entry 3): request.url: "https://api.github.com/user" in the HAR, "https://api.github.com/repos/o/r/pulls" in the audit log`,
		}},
		{name: "grant removed, header added", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			delete(entryAt(e, 1), "_moat_grant")
			entryAt(e, 1)["request"].(map[string]any)["headers"] = []any{map[string]any{"name": "Authorization", "value": "Bearer x"}}
			return e
		}), want: []string{
			`log.entries[1] (audit entry 3): _moat_grant: missing from the HAR; the audit log has "github"`,
			`log.entries[1] (audit entry 3): request.headers: [{"name":"Authorization","value":"Bearer x"}] in the HAR, [] in the audit log`,
		}},
		{name: "start time and size edited", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			entryAt(e, 0)["startedDateTime"] = "2026-11-28T09:00:05.010Z"
			entryAt(e, 0)["response"].(map[string]any)["content"].(map[string]any)["text"] = "forged"
			return e
		}), want: []string{
			`log.entries[0] (audit entry 4): response.content.text: "forged" in the HAR, which the audit log does not hold`,
			`log.entries[0] (audit entry 4): startedDateTime: "2026-11-28T09:00:05.010Z" in the HAR, "2026-11-28T10:00:05.010Z" in the audit log`,
		}},
		{name: "entry removed", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			return append(e[:2:2], e[3:]...)
		}), want: []string{
			`log.entries[2] (audit entry 5): missing: the log records CONNECT https://evil.example:443 at 2026-11-28T10:00:05.03Z here, which the HAR does not hold`,
		}},
		{name: "last entry removed", har: edit(t, run.har, func(_ map[string]any, e []any) []any { return e[:4] }), want: []string{
			`log.entries[4] (audit entry 8): missing: the log records GET http://deb.debian.org/debian/ at 2026-11-28T10:00:05.05Z here, which the HAR does not hold`,
		}},
		{name: "entries swapped", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			e[1], e[3] = e[3], e[1]
			return e
		}), want: []string{
			`log.entries[2] (audit entry 5): out of order: the request arrived before log.entries[1]'s (audit entry 7), which the HAR lists first; a HAR lists requests in the order they arrived`,
			`log.entries[3] (audit entry 3): out of order: the request arrived before log.entries[2]'s (audit entry 5), which the HAR lists first; a HAR lists requests in the order they arrived`,
		}},
		{name: "entry duplicated", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			return append(e, e[4])
		}), want: []string{`log.entries[5] (audit entry 8): a second entry for audit entry 8 (the first is log.entries[4])`}},
		{name: "link edited", har: edit(t, run.har, func(_ map[string]any, e []any) []any {
			entryAt(e, 0)["_moat_audit_hash"] = "00ff"
			entryAt(e, 1)["_moat_audit_seq"] = 1.0
			entryAt(e, 2)["_moat_audit_seq"] = 99.0
			entryAt(e, 3)["_moat_audit_seq"] = "7"
			e[4] = "GET /"
			return e
		}), want: append([]string{
			`log.entries[0] (audit entry 4): _moat_audit_hash: "00ff" is not the hash of audit entry 4: the entry was not written from this log`,
			`log.entries[1] (audit entry 1): audit entry 1 is a run.created entry, not a request`,
			`log.entries[2] (audit entry 99): the log has no entry 99 (it ends at entry 9)`,
			`log.entries[3]: _moat_audit_seq: "7", not an audit entry's sequence number: the entry was not written by moat, or was edited`,
			`log.entries[4]: "GET /", not an entry object`,
		}, allMissing...)},
		{name: "HAR of another run, its run ID changed", har: edit(t, other.har, func(log map[string]any, e []any) []any {
			log["_moat_run_id"] = "run0001"
			return e[:1]
		}), want: append([]string{
			`log (audit entry 9): _moat_audit_last_hash: is not the hash of the log's entry 9: the HAR was not written from this log`,
			`log.entries[0] (audit entry 4): _moat_audit_hash: "` + other.entries[get-1].Hash + `" is not the hash of audit entry 4: the entry was not written from this log`,
		}, allMissing...)},
		{name: "range cut short, the tail removed", har: edit(t, run.har, func(log map[string]any, e []any) []any {
			log["_moat_audit_last_seq"], log["_moat_audit_last_hash"] = 7.0, run.entries[tunnel-1].Hash
			return e
		}), want: []string{
			`log.entries[4] (audit entry 8): outside the entries the HAR covers (1 to 7)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			entries := tt.entries
			if entries == nil {
				entries = run.entries
			}
			r := verify(t, tt.har, entries)
			if got := problems(r); got != strings.Join(tt.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
			text, err := r.Describe("HAR x.har (run run0001)")
			if err == nil || !strings.HasPrefix(text, "HAR x.har (run run0001): DOES NOT MATCH THE AUDIT LOG\n  "+tt.want[0]+"\n") {
				t.Fatalf("Describe: %v\n%s", err, text)
			}
			if want := "HAR x.har (run run0001) does not match the audit log: " + tt.want[0]; err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
		})
	}
}

// TestVerifyHARPartial: a HAR whose range ends before the log does (it
// was written while the run went on, or its tail was cut with the range)
// verifies, and says how many requests it does not hold.
func TestVerifyHARPartial(t *testing.T) {
	t.Parallel()
	run := newLinkedRun(t, "run0001", harEvents())
	har := edit(t, run.har, func(log map[string]any, e []any) []any {
		log["_moat_audit_last_seq"], log["_moat_audit_last_hash"] = 7.0, run.entries[6].Hash
		return e[:4]
	})
	r := verify(t, har, run.entries)
	if len(r.Problems) > 0 || r.After != 1 || r.Requests != 4 {
		t.Fatalf("report %+v, problems:\n%s", r, problems(r))
	}
	text, err := r.Describe("HAR x.har (run run0001)")
	want := "HAR x.har (run run0001): OK, PARTIAL (1 of the log's requests is not in it)\n" +
		"  4 entries: every request the log records in its range, unchanged and in order\n" +
		"  note: 1 request the log records after the HAR's range is not in it (recorded after the HAR was written, or left out)\n"
	if err != nil || text != want {
		t.Fatalf("Describe: %v\n%q\nwant\n%q", err, text, want)
	}
}

// TestVerifyHARListsAtMost20Problems: a HAR of another run fails on
// every entry; the description lists 20 and counts the rest.
func TestVerifyHARListsAtMost20Problems(t *testing.T) {
	t.Parallel()
	r := HARReport{}
	for i := range 25 {
		r.Problems = append(r.Problems, HARProblem{Index: i, Seq: uint64(i + 3), Reason: "changed"})
	}
	text, err := r.Describe("HAR x.har")
	if err == nil || strings.Count(text, "\n") != 22 || !strings.HasSuffix(text, "  log.entries[19] (audit entry 22): changed\n  and 5 more\n") {
		t.Fatalf("Describe: %v\n%s", err, text)
	}
}

func TestReadHARErrors(t *testing.T) {
	t.Parallel()
	run := newLinkedRun(t, "run0001", harEvents())
	unlinked := edit(t, run.har, func(log map[string]any, e []any) []any {
		delete(log, "_moat_run_id")
		return e
	})
	tests := []struct {
		name string
		data string
		want string
	}{
		{name: "empty", data: "", want: "line 1, column 1: unexpected end of JSON input"},
		{name: "truncated", data: string(run.har[:len(run.har)/2]), want: "unexpected end of JSON input"},
		{name: "garbage", data: "{\n  \"log\": nope}", want: "line 2, column 11: invalid character 'o' in literal null (expecting 'u')"},
		{name: "wrong type", data: `{"log": {"_moat_audit_last_seq": "9"}}`, want: "line 1, column 36: json: cannot unmarshal string into Go struct field .log._moat_audit_last_seq of type uint64"},
		{name: "not a HAR", data: `{"format": "moat-audit-bundle-v1"}`, want: `not a HAR file: it has no "log" object`},
		{name: "no entries", data: `{"log": {"version": "1.2"}}`, want: `not a HAR file: its log has no "entries" list`},
		{name: "no link", data: string(unlinked), want: ErrNoAuditLink.Error()},
		{name: "empty range", data: `{"log": {"entries": [], "_moat_run_id": "r", "_moat_audit_first_seq": 5, "_moat_audit_last_seq": 3, "_moat_audit_last_hash": ""}}`,
			want: "its audit range, entries 5 to 3, is not a range of entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadHAR(strings.NewReader(tt.data))
			if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error ending %q", err, tt.want)
			}
		})
	}
	if _, err := ReadHAR(strings.NewReader(string(unlinked))); !errors.Is(err, ErrNoAuditLink) {
		t.Fatalf("got %v, want ErrNoAuditLink", err)
	}
}
