//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const harSecret = "sk-e2e-HAR-SECRET-4c1d9e0b7a52"

// TestHARLinkedToTheAuditLog: a strict run with a grant makes requests to
// a local TLS API (granted, a POST with a body, a refused host); the HAR
// 'moat trace --har' writes verifies against the run's log and against an
// exported bundle; a copy with a status edited, one with an entry removed
// and one with two entries swapped each fail, naming the entry; and the
// HAR and the bundle, the files a user shares, hold no form of the grant's
// secret.
func TestHARLinkedToTheAuditLog(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{harSecret: "granted"})
	e.grantAPI(s, "testapi", harSecret)
	ws := e.egressWorkspace(s, "grants: [testapi]\n")
	api := "https://api.test:" + s.port
	name := uniqueName(t)
	e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c", strings.Join([]string{
		`curl -sS ` + api + `/hello`,
		`curl -sS -d 'some body' ` + api + `/hello`,
		`curl -sS -o /dev/null https://blocked.test:` + s.port + `/hello || true`,
		`curl -sS ` + api + `/hello?page=2`,
	}, "; "))
	r := e.find(name)

	dir := t.TempDir()
	har, bundle := filepath.Join(dir, "run.har"), filepath.Join(dir, "run-audit.json")
	res := e.mustRun(0, "trace", name, "--har", har)
	doc, entries := readHARDoc(t, har)
	n := len(entries) // the four requests, and any moat makes itself at the start
	if doc["_moat_run_id"] != r.ID || n < 4 {
		t.Fatalf("HAR linked to run %v with %d entries, want %s and at least 4", doc["_moat_run_id"], n, r.ID)
	}
	mustContain(t, "trace --har", res.stderr, fmt.Sprintf("Wrote %d requests to %s", n, har))
	e.mustRun(0, "audit", name, "--export", bundle)

	// The HAR as written verifies, against the run and against the bundle.
	res = e.mustRun(0, "audit", "verify", "--har", har)
	mustContain(t, "verify --har", res.stdout, "run "+r.ID+" ("+name+"): OK\n",
		fmt.Sprintf("HAR %s (run %s): OK\n  %d entries: every request the log records in its range, unchanged and in order\n", har, r.ID, n))
	res = e.mustRun(0, "audit", "verify", "--har", har, bundle)
	mustContain(t, "verify --har with a bundle", res.stdout, "bundle "+bundle+" (run "+r.ID+"): OK\n", "HAR "+har+" (run "+r.ID+"): OK\n")

	seq := func(i int) int { return int(entries[i].(map[string]any)["_moat_audit_seq"].(float64)) }
	granted := -1
	for i, raw := range entries {
		entry := raw.(map[string]any)
		if entry["_moat_grant"] == "testapi" && entry["response"].(map[string]any)["status"] == 200.0 && granted < 0 {
			granted = i
		}
		if h := entry["request"].(map[string]any)["headers"].([]any); len(h) != 0 {
			t.Errorf("entry %d records headers: %v", i, h)
		}
	}
	if granted < 0 {
		t.Fatalf("no entry of a granted request answered 200:\n%v", entries)
	}

	tampered := []struct {
		name   string
		change func(entries []any) []any
		want   string
	}{
		{name: "status edited", change: func(entries []any) []any {
			entries[granted].(map[string]any)["response"].(map[string]any)["status"] = 404
			return entries
		}, want: fmt.Sprintf("log.entries[%d] (audit entry %d): response.status: 404 in the HAR, 200 in the audit log", granted, seq(granted))},
		{name: "entry removed", change: func(entries []any) []any {
			return append(entries[:1:1], entries[2:]...)
		}, want: fmt.Sprintf("log.entries[1] (audit entry %d): missing: the log records ", seq(1))},
		{name: "entries swapped", change: func(entries []any) []any {
			entries[0], entries[1] = entries[1], entries[0]
			return entries
		}, want: fmt.Sprintf("log.entries[1] (audit entry %d): out of order: the request arrived before log.entries[0]'s (audit entry %d)", seq(0), seq(1))},
	}
	for _, tt := range tampered {
		doc, entries := readHARDoc(t, har)
		doc["entries"] = tt.change(entries)
		copyPath := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".har")
		writeHARDoc(t, copyPath, doc)
		res := e.mustRun(1, "audit", "verify", "--har", copyPath)
		mustContain(t, tt.name+": stdout", res.stdout, "HAR "+copyPath+" (run "+r.ID+"): DOES NOT MATCH THE AUDIT LOG\n  "+tt.want)
		mustContain(t, tt.name+": stderr", res.stderr, "moat: HAR "+copyPath+" (run "+r.ID+") does not match the audit log: "+tt.want,
			"The HAR was changed after moat wrote it: do not trust it.")
	}

	// What a user shares holds no form of the secret: the HAR records no
	// header at all, neither the credential nor a placeholder.
	for _, f := range []string{har, bundle} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range secretForms(harSecret) {
			if strings.Contains(string(data), form) {
				t.Errorf("%s holds the secret as %q", filepath.Base(f), form)
			}
		}
	}
	mustContain(t, "the HAR", string(mustRead(t, har)), `"_moat_grant": "testapi"`)
}

// secretForms are the ways a secret could be written down: as is,
// URL-encoded, and base64 (standard and URL alphabets, with and without
// padding) at each of the three alignments it could have inside a longer
// encoded value, such as "Basic " + base64("user:" + secret).
func secretForms(secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		for lead := 0; lead < 3; lead++ {
			// lead bytes before the secret change the first characters and
			// the end may merge with what follows: keep the stable middle.
			full := enc.EncodeToString([]byte(strings.Repeat("x", lead) + secret))
			skip := (lead*4 + 2) / 3
			forms = append(forms, full[skip:len(full)-4])
		}
	}
	return forms
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readHARDoc decodes a HAR's log object and its entries.
func readHARDoc(t *testing.T, path string) (map[string]any, []any) {
	t.Helper()
	var doc struct{ Log map[string]any }
	if err := json.Unmarshal(mustRead(t, path), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	entries, _ := doc.Log["entries"].([]any)
	return doc.Log, entries
}

func writeHARDoc(t *testing.T, path string, log map[string]any) {
	t.Helper()
	data, err := json.MarshalIndent(map[string]any{"log": log}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
