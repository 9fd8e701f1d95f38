package policy

import (
	"fmt"
	"io"

	"github.com/moatsh/moat/internal/plural"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/suggest"
)

// report is the --json form of a suggestion. Fields are only ever added.
type report struct {
	Run  string `json:"run"`
	File string `json:"file"` // the agent.yaml the rules are for
	// SetStrict is true when network.policy must change to strict.
	SetStrict bool            `json:"set_strict"`
	Allow     []suggest.Rule  `json:"allow"`
	Risky     []suggest.Risky `json:"risky"`
	Skipped   []string        `json:"skipped"` // destinations no rule can name, with why
}

func newReport(r *state.Run, path string, s suggest.Suggestion) report {
	rep := report{Run: r.ID, File: path, SetStrict: s.Strict, Allow: s.Allow, Risky: s.Risky, Skipped: s.Skipped}
	if rep.Allow == nil {
		rep.Allow = []suggest.Rule{}
	}
	if rep.Risky == nil {
		rep.Risky = []suggest.Risky{}
	}
	if rep.Skipped == nil {
		rep.Skipped = []string{}
	}
	return rep
}

// writeRisky lists the risky rules on stderr with what each would allow.
func writeRisky(w io.Writer, risky []suggest.Risky) {
	if len(risky) == 0 {
		return
	}
	fmt.Fprintf(w, "Not added, risky (commented out in the diff; uncomment one only if you mean it):\n")
	for _, r := range risky {
		fmt.Fprintf(w, "  %s: %s\n    it would allow %s\n", r.Pattern, r.Reason, r.Allows)
	}
}

// riskyAside is the end of the "nothing to add" line when risky rules
// were listed above it.
func riskyAside(risky []suggest.Risky) string {
	if len(risky) == 0 {
		return ""
	}
	return fmt.Sprintf(" but %s listed above", plural.Count(len(risky), "risky destination"))
}

// summary says what the diff does.
func summary(s suggest.Suggestion) string {
	msg := plural.Count(len(s.Allow), "rule to add", "rules to add")
	if s.Strict {
		msg = "network.policy set to strict and " + msg
	}
	if len(s.Risky) > 0 {
		msg += ", " + plural.Count(len(s.Risky), "risky one", "risky ones") + " commented out"
	}
	return msg
}
