package trace

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/plural"
)

// HARProblem is one way an archive differs from its audit log.
type HARProblem struct {
	Index  int    // the entry's index in log.entries, -1 for the archive's own fields
	Seq    uint64 // the audit entry concerned, 0 if none
	Field  string // the field, as a path (response.status); "" for the whole entry
	Reason string
}

func (p HARProblem) String() string {
	var b strings.Builder
	if p.Index >= 0 {
		fmt.Fprintf(&b, "log.entries[%d]", p.Index)
	} else {
		b.WriteString("log")
	}
	if p.Seq > 0 {
		fmt.Fprintf(&b, " (audit entry %d)", p.Seq)
	}
	if p.Field != "" {
		b.WriteString(": " + p.Field)
	}
	return b.String() + ": " + p.Reason
}

// HARReport is what VerifyHAR found.
type HARReport struct {
	Entries  int    // entries in the archive
	Requests int    // request entries of the log in the archive's range
	LogLast  uint64 // the log's last entry
	// Before and After count the log's requests outside the archive's
	// range: left out, or (After) recorded once it was written.
	Before, After int
	Problems      []HARProblem
}

// VerifyHAR checks an archive against the complete entries of the audit
// log it names, which the caller has verified. Every entry must name a
// request entry of the log in the archive's range, by sequence number and
// hash, and hold exactly what WriteHAR renders from it, no field more or
// less; the entries must come in arrival order (as WriteHAR writes them)
// and none of the range's requests may be missing. The archive's range
// must end at an entry of this log, by hash.
func VerifyHAR(h HAR, entries []audit.Entry) HARReport {
	v := harVerifier{h: h, bySeq: make(map[uint64]audit.Entry, len(entries)), seen: map[uint64]int{}}
	for _, e := range entries {
		v.bySeq[e.Seq] = e
		v.rep.LogLast = max(v.rep.LogLast, e.Seq)
	}
	v.rep.Entries = len(h.Entries)
	v.checkRange()
	for i, raw := range h.Entries {
		v.checkEntry(i, raw)
	}
	v.checkMissing(entries)
	return v.rep
}

type harVerifier struct {
	h     HAR
	bySeq map[uint64]audit.Entry
	rep   HARReport

	seen    map[uint64]int // audit entry -> the archive's entry that holds it
	matched []Request      // the requests of the entries that hold one, in the archive's order
	last    int            // index of the last entry that held a request
}

func (v *harVerifier) problem(i int, seq uint64, field, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, HARProblem{Index: i, Seq: seq, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// checkRange: the range's last entry is this log's.
func (v *harVerifier) checkRange() {
	if v.h.LastSeq == 0 {
		return
	}
	e, ok := v.bySeq[v.h.LastSeq]
	switch {
	case !ok:
		v.problem(-1, v.h.LastSeq, "_moat_audit_last_seq", "the log has no entry %d (it ends at entry %d): the HAR was not written from this log", v.h.LastSeq, v.rep.LogLast)
	case e.Hash != v.h.LastHash:
		v.problem(-1, v.h.LastSeq, "_moat_audit_last_hash", "is not the hash of the log's entry %d: the HAR was not written from this log", v.h.LastSeq)
	}
}

func (v *harVerifier) inRange(seq uint64) bool { return seq >= v.h.FirstSeq && seq <= v.h.LastSeq }

// checkEntry checks the archive's entry i: its link, its place, its
// content.
func (v *harVerifier) checkEntry(i int, raw any) {
	obj, ok := raw.(map[string]any)
	if !ok {
		v.problem(i, 0, "", "%s, not an entry object", show(raw))
		return
	}
	n, ok := obj["_moat_audit_seq"].(float64)
	if !ok || n < 1 || n > 1<<53 || n != math.Trunc(n) {
		v.problem(i, 0, "_moat_audit_seq", "%s, not an audit entry's sequence number: the entry was not written by moat, or was edited", show(obj["_moat_audit_seq"]))
		return
	}
	seq := uint64(n)
	e, exists := v.bySeq[seq]
	req, isRequest := FromEntry(e)
	hash, _ := obj["_moat_audit_hash"].(string)
	first, dup := v.seen[seq]
	switch {
	case !exists:
		v.problem(i, seq, "", "the log has no entry %d (it ends at entry %d)", seq, v.rep.LogLast)
	case !isRequest:
		v.problem(i, seq, "", "audit entry %d is a %s entry, not a request", seq, e.Kind)
	case !v.inRange(seq):
		v.problem(i, seq, "", "outside the entries the HAR covers (%d to %d)", v.h.FirstSeq, v.h.LastSeq)
	case hash != e.Hash:
		v.problem(i, seq, "_moat_audit_hash", "%s is not the hash of audit entry %d: the entry was not written from this log", show(obj["_moat_audit_hash"]), seq)
	case dup:
		v.problem(i, seq, "", "a second entry for audit entry %d (the first is log.entries[%d])", seq, first)
	default:
		v.seen[seq] = i
		v.checkContent(i, seq, obj, req)
		v.checkOrder(i, req)
	}
}

// checkContent compares the entry with the one WriteHAR renders from its
// audit entry, so any field edited, added or removed is named.
func (v *harVerifier) checkContent(i int, seq uint64, obj map[string]any, req Request) {
	data, err := json.Marshal(harEntryOf(req))
	var want any
	if err == nil {
		err = json.Unmarshal(data, &want)
	}
	if err != nil { // cannot happen: harEntry holds strings and numbers
		v.problem(i, seq, "", "rendering audit entry %d: %v", seq, err)
		return
	}
	diffJSON("", obj, want, func(field, reason string) { v.problem(i, seq, field, "%s", reason) })
}

// checkOrder: the archive lists requests in arrival order, as the log's
// times (not the archive's, which may be edited) give it.
func (v *harVerifier) checkOrder(i int, req Request) {
	if n := len(v.matched); n > 0 && arrivesBefore(req, v.matched[n-1]) {
		prev := v.matched[n-1]
		v.problem(i, req.Seq, "", "out of order: the request arrived before log.entries[%d]'s (audit entry %d), which the HAR lists first; a HAR lists requests in the order they arrived", v.last, prev.Seq)
	}
	v.matched = append(v.matched, req)
	v.last = i
}

// checkMissing names every request of the range the archive does not
// hold, at the index it belongs at, and counts those outside the range.
func (v *harVerifier) checkMissing(entries []audit.Entry) {
	inOrder := append([]Request(nil), v.matched...)
	sortByArrival(inOrder)
	for _, e := range entries {
		req, ok := FromEntry(e)
		switch {
		case !ok:
		case e.Seq < v.h.FirstSeq:
			v.rep.Before++
		case e.Seq > v.h.LastSeq:
			v.rep.After++
		default:
			v.rep.Requests++
			if _, held := v.seen[e.Seq]; !held {
				at := sort.Search(len(inOrder), func(k int) bool { return !arrivesBefore(inOrder[k], req) })
				v.problem(at, e.Seq, "", "missing: the log records %s %s at %s here, which the HAR does not hold",
					req.Method, harURL(req), req.Time.UTC().Format(time.RFC3339Nano))
			}
		}
	}
}

// diffJSON reports, by path, every difference between a decoded JSON
// value got and the value want: a field changed, missing or added.
func diffJSON(path string, got, want any, report func(field, reason string)) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			report(path, fmt.Sprintf("%s in the HAR, an object in the audit log", show(got)))
			return
		}
		for _, k := range unionKeys(g, w) {
			gv, inHAR := g[k]
			wv, inLog := w[k]
			sub := joinPath(path, k)
			switch {
			case !inHAR:
				report(sub, fmt.Sprintf("missing from the HAR; the audit log has %s", show(wv)))
			case !inLog:
				report(sub, fmt.Sprintf("%s in the HAR, which the audit log does not hold", show(gv)))
			default:
				diffJSON(sub, gv, wv, report)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			report(path, fmt.Sprintf("%s in the HAR, %s in the audit log", show(got), show(want)))
			return
		}
		for k := range w {
			diffJSON(fmt.Sprintf("%s[%d]", path, k), g[k], w[k], report)
		}
	default:
		if !sameScalar(got, want) {
			report(path, fmt.Sprintf("%s in the HAR, %s in the audit log", show(got), show(want)))
		}
	}
}

// sameScalar compares JSON scalars; an object or array is never equal to
// one (and comparing them with == would panic).
func sameScalar(a, b any) bool {
	switch a.(type) {
	case map[string]any, []any:
		return false
	}
	return a == b
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// joinPath extends a field path by key, which the archive may have made
// as long as it liked.
func joinPath(path, key string) string {
	if r := []rune(key); len(r) > maxShown {
		key = string(r[:maxShown-1]) + "…"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// maxShown bounds a value quoted in a problem: a hostile archive may hold
// megabytes in one field.
const maxShown = 80

// show is v as JSON, shortened.
func show(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	if len(data) > 4*maxShown {
		data = data[:4*maxShown]
	}
	if r := []rune(string(data)); len(r) > maxShown {
		return string(r[:maxShown-1]) + "…"
	}
	return string(data)
}

// maxListed bounds the problems Describe lists; the count says the rest.
const maxListed = 20

// Describe renders the report for people, as audit.Report.Describe does
// for the log: a status line and details. The error is set when the
// archive does not match the log; what names it (its file and run).
func (r HARReport) Describe(what string) (string, error) {
	var b strings.Builder
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, "%s: DOES NOT MATCH THE AUDIT LOG\n", what)
		for i, p := range r.Problems {
			if i == maxListed {
				fmt.Fprintf(&b, "  and %d more\n", len(r.Problems)-maxListed)
				break
			}
			fmt.Fprintf(&b, "  %s\n", p)
		}
		return b.String(), fmt.Errorf("%s does not match the audit log: %s", what, r.Problems[0])
	}
	status := "OK"
	if r.Before+r.After > 0 {
		status = fmt.Sprintf("OK, PARTIAL (%d of the log's requests %s not in it)", r.Before+r.After, plural.Noun(r.Before+r.After, "is", "are"))
	}
	fmt.Fprintf(&b, "%s: %s\n  %s: every request the log records in its range, unchanged and in order\n", what, status, plural.Count(r.Entries, "entry", "entries"))
	if r.Before > 0 {
		fmt.Fprintf(&b, "  note: %s the log records before the HAR's range %s not in it\n", plural.Count(r.Before, "request"), plural.Noun(r.Before, "is", "are"))
	}
	if r.After > 0 {
		fmt.Fprintf(&b, "  note: %s the log records after the HAR's range %s not in it (recorded after the HAR was written, or left out)\n", plural.Count(r.After, "request"), plural.Noun(r.After, "is", "are"))
	}
	return b.String(), nil
}
