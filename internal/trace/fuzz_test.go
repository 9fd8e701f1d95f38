package trace

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
)

// FuzzFromEntry: whatever a log entry's data holds, FromEntry never
// panics, its numbers are in range, and the request renders as a URL and
// as a HAR entry that is valid JSON.
func FuzzFromEntry(f *testing.F) {
	f.Add(audit.KindNetRequest, "2026-11-28T10:00:04.123456789Z", "GET", "https", "api.github.com", "/user", "200", "84250", "5120", "312", "github", "allow", "")
	f.Add(audit.KindNetDenied, "", "CONNECT", "", "evil.example", "", "403", "40", "0", "0", "", "deny: host not allowed", "")
	f.Add(audit.KindNetRequest, "x", "CONNECT", "tunnel", "[::1", "", "-1", "99999999999999999999", "1e3", "-7", "", "", "dial tcp: refused")
	f.Add(audit.KindNetRequest, "2026-13-45T99:00:00Z", "", "h\x00", "a b:c:d", "%zz\xff", "9223372036854775807", "9223372036854775807", "", "", "", "deny", "")
	f.Add(audit.KindRunCreated, "", "GET", "https", "h", "/", "200", "1", "1", "1", "", "allow", "")
	f.Fuzz(func(t *testing.T, kind, tm, method, scheme, host, path, status, dur, in, out, grant, decision, errText string) {
		e := audit.Entry{Seq: 1, Time: time.Unix(0, 0).UTC(), Kind: kind, Data: map[string]string{
			audit.NetTime: tm, audit.NetMethod: method, audit.NetScheme: scheme, audit.NetHost: host, audit.NetPath: path,
			audit.NetStatus: status, audit.NetDurationUS: dur, audit.NetBytesIn: in, audit.NetBytesOut: out,
			audit.NetGrant: grant, audit.NetDecision: decision, audit.NetError: errText,
		}}
		r, ok := FromEntry(e)
		if ok != (kind == audit.KindNetRequest || kind == audit.KindNetDenied) {
			t.Fatalf("ok = %v for kind %q", ok, kind)
		}
		if !ok {
			return
		}
		if r.Status < 0 || r.Status > 999 || r.Duration < 0 || r.BytesIn < 0 || r.BytesOut < 0 {
			t.Fatalf("out of range: %+v", r)
		}
		_ = r.URL()
		var buf bytes.Buffer
		if err := WriteHAR(&buf, Log{Requests: []Request{r}}, "fuzzrun", "fuzz"); err != nil {
			t.Fatalf("WriteHAR: %v", err)
		}
		if !json.Valid(buf.Bytes()) {
			t.Fatalf("WriteHAR wrote invalid JSON:\n%s", buf.Bytes())
		}
	})
}

// FuzzVerifyHAR: whatever a HAR file holds (the agent may have written
// it, or anyone who edited it on its way), ReadHAR and VerifyHAR never
// panic, an archive that reads names its link, and one that matches the
// log is every request of the log, unchanged.
func FuzzVerifyHAR(f *testing.F) {
	run := newLinkedRun(f, "run0001", harEvents())
	f.Add(run.har)
	f.Add([]byte(`{"log":{"_moat_run_id":"run0001","_moat_audit_first_seq":1,"_moat_audit_last_seq":9,"_moat_audit_last_hash":"","entries":[{"_moat_audit_seq":4},[],null,"x",{"_moat_audit_seq":1e300,"request":{"headers":[1,{}]}}]}}`))
	f.Add([]byte(`{"log":{"_moat_run_id":"r","_moat_audit_first_seq":18446744073709551615,"_moat_audit_last_seq":18446744073709551615,"_moat_audit_last_hash":"","entries":[]}}`))
	f.Add([]byte(`{"log":{"entries":{}}}`))
	f.Add([]byte(`[[[[[[[[[[[[`))
	f.Add(run.har[:len(run.har)/3])
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHAR(bytes.NewReader(data))
		if err != nil {
			return
		}
		if h.RunID == "" || h.FirstSeq == 0 {
			t.Fatalf("ReadHAR accepted an archive without a link: %+v", h)
		}
		r := VerifyHAR(h, run.entries)
		if _, err := r.Describe("HAR fuzz.har"); (err == nil) != (len(r.Problems) == 0) {
			t.Fatalf("Describe's error %v with %d problems", err, len(r.Problems))
		}
		if len(r.Problems) == 0 && r.Before+r.After == 0 && r.Entries != len(run.log.Requests) {
			t.Fatalf("a HAR of %d entries matches a log of %d requests", r.Entries, len(run.log.Requests))
		}
	})
}
