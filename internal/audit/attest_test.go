package audit

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDescribeShowsTheAttestation: 'moat audit' prints each egress
// attestation, which checks passed and how long they took, or the check
// that failed and why, as one line of text whatever the proxy wrote.
func TestDescribeShowsTheAttestation(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testRun, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	events := []map[string]string{
		{AttestResult: AttestPassed, AttestDurationUS: "3250", AttestCheckPrefix + "token-only": "pass",
			AttestCheckPrefix + "deny-outside-policy": "skipped: the policy allows every candidate"},
		{AttestResult: AttestFailed, AttestFailedCheck: "grants-live", AttestReason: "grant g: gone\x1b[2J\nmore"},
	}
	for _, d := range events {
		if _, err := l.Append(KindEgressAttested, d, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r := verifyFile(t, path, key)
	desc, err := r.Describe("run x", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  egress attestation: passed in 3.2 ms (deny-outside-policy skipped, token-only pass)\n",
		"  egress attestation: FAILED at grants-live: grant g: gone\\nmore\n",
		KindEgressAttested + " 2",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe:\n%s\nwant %q", desc, want)
		}
	}
	if strings.Contains(desc, "\x1b") {
		t.Errorf("Describe printed the escape sequence the proxy wrote:\n%q", desc)
	}
}
