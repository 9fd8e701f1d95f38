package audit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moatsh/moat/internal/plural"
)

// Describe renders the report for people: a status line and details. The
// error is set when the log cannot be trusted: it was tampered with, or
// it is not closed although its run is over (active is false), in which
// case its end may have been cut off.
func (r *Report) Describe(what string, active bool) (string, error) {
	var b strings.Builder
	if p := r.Tampering(); p != nil {
		fmt.Fprintf(&b, "%s: TAMPERED\n  %s\n  the %s before it %s\n", what, p,
			plural.Count(r.Entries, "entry", "entries"), plural.Noun(r.Entries, "verifies", "verify"))
		return b.String(), fmt.Errorf("the audit log of %s does not verify: %s", what, p)
	}
	status, unclosed, truncated := "OK", false, false
	for _, p := range r.Problems {
		unclosed = unclosed || p.Kind == Unclosed
		truncated = truncated || p.Kind == Truncated
	}
	switch {
	case unclosed && !active:
		status = "NOT CLOSED"
	case unclosed:
		status = "OK so far (the run is still going)"
	}
	if truncated {
		status += ", TRUNCATED (request events past the log's cap were not recorded)"
	}
	fmt.Fprintf(&b, "%s: %s\n  %s\n  signed by %s\n  events: %s\n", what, status, r.Summary(), r.KeyFingerprint, kindCounts(r.Kinds))
	for _, k := range r.RunKeys {
		fmt.Fprintf(&b, "  run key %s, certified by that key\n", k)
	}
	for _, a := range r.Attestations {
		fmt.Fprintf(&b, "  egress attestation: %s\n", a)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  note: %s\n", p)
	}
	if unclosed && !active {
		return b.String(), fmt.Errorf("the audit log of %s has no final signed checkpoint although the run is over: its end may have been cut off", what)
	}
	return b.String(), nil
}

func kindCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
