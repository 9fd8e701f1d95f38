package state

import (
	"fmt"
	"strings"
)

// NotFoundError reports that no run matches what the user asked for.
type NotFoundError struct{ Ref, Want string }

func (e *NotFoundError) Error() string {
	switch {
	case e.Ref == "" && e.Want == "":
		return "no run"
	case e.Ref == "":
		return fmt.Sprintf("no %s run", e.Want)
	}
	return fmt.Sprintf("no run matches %q", e.Ref)
}

// Hint says how to see which runs exist.
func (e *NotFoundError) Hint() string { return "Run 'moat list -a' to see your runs." }

// Find picks the run a command addresses. ref may be a run ID, a unique
// prefix of one, or a name (the most recent run with that name wins). With an
// empty ref it is the most recent run that match accepts; want names that
// kind of run for the error ("running", "stopped"). runs are newest first.
func Find(runs []*Run, ref string, match func(*Run) bool, want string) (*Run, error) {
	if ref == "" {
		for _, r := range runs {
			if match == nil || match(r) {
				return r, nil
			}
		}
		return nil, &NotFoundError{Want: want}
	}
	for _, r := range runs {
		if r.ID == ref {
			return r, nil
		}
	}
	for _, r := range runs {
		if r.Name == ref {
			return r, nil
		}
	}
	var hits []*Run
	for _, r := range runs {
		if strings.HasPrefix(r.ID, ref) {
			hits = append(hits, r)
		}
	}
	switch len(hits) {
	case 0:
		return nil, &NotFoundError{Ref: ref}
	case 1:
		return hits[0], nil
	}
	return nil, fmt.Errorf("run id prefix %q is ambiguous: it matches %d runs", ref, len(hits))
}
