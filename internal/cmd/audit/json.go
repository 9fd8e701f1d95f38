package audit

import (
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/state"
)

// reportJSON is 'moat audit --json': the verification's result for
// scripts. Every key is always present; lists are [] when empty, times
// null before the first entry.
type reportJSON struct {
	Run struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"run"`
	// Status is "ok", "open" (no final checkpoint yet, the run is still
	// going), "not-closed" (none although the run is over) or "tampered".
	Status string `json:"status"`
	// Verified is what the exit code says: 0 when true, 1 when not.
	Verified      bool           `json:"verified"`
	Entries       int            `json:"entries"`
	First         *time.Time     `json:"first"`
	Last          *time.Time     `json:"last"`
	Checkpoints   int            `json:"checkpoints"`
	SignedThrough uint64         `json:"signedThrough"`
	Closed        bool           `json:"closed"`
	Truncated     bool           `json:"truncated"`
	Key           string         `json:"key"`
	RunKeys       []string       `json:"runKeys"`
	Attestations  []string       `json:"attestations"`
	Kinds         map[string]int `json:"kinds"`
	Problems      []problemJSON  `json:"problems"`
}

type problemJSON struct {
	Kind   string `json:"kind"`
	Line   int    `json:"line"`
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func newReportJSON(r *state.Run, rep audit.Report, verified bool) reportJSON {
	j := reportJSON{
		Verified: verified, Entries: rep.Entries, Checkpoints: rep.Checkpoints,
		SignedThrough: rep.SignedThrough, Closed: rep.Closed, Key: rep.KeyFingerprint,
		RunKeys: nonNil(rep.RunKeys), Attestations: nonNil(rep.Attestations),
		Kinds: rep.Kinds, Problems: []problemJSON{},
	}
	j.Run.ID, j.Run.Name = r.ID, r.Name
	if j.Kinds == nil {
		j.Kinds = map[string]int{}
	}
	if !rep.First.IsZero() {
		j.First, j.Last = &rep.First, &rep.Last
	}
	unclosed := false
	for _, p := range rep.Problems {
		j.Problems = append(j.Problems, problemJSON{Kind: string(p.Kind), Line: p.Line, Seq: p.Seq, Reason: p.Reason})
		unclosed = unclosed || p.Kind == audit.Unclosed
		j.Truncated = j.Truncated || p.Kind == audit.Truncated
	}
	switch {
	case rep.Tampering() != nil:
		j.Status = "tampered"
	case unclosed && r.Status.Active():
		j.Status = "open"
	case unclosed:
		j.Status = "not-closed"
	default:
		j.Status = "ok"
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
