package deps

import (
	"fmt"
	"strings"

	"github.com/moatsh/moat/internal/textdist"
)

// maxSuggestDistance is the largest edit distance still worth suggesting.
const maxSuggestDistance = 2

// unknownName reports a name missing from the registry, with the closest
// entry and, when full looks like a package, the prefixed specs that parse.
func unknownName(spec, name, full string) *SpecError {
	e := &SpecError{Spec: spec, Reason: "not in the registry", Remedy: listHint, unknown: true}
	guess, exact := suggestName(name)
	// A typo of a registry name is not offered as a Debian package.
	pkgs := packageSpecs(full, guess == "")
	switch {
	case guess != "" && (exact || pkgs == ""):
		e.Reason = "did you mean " + guess + "?"
	case guess != "":
		e.Reason = fmt.Sprintf("did you mean %s? (for a package, write %s)", guess, pkgs)
	case pkgs != "":
		e.Reason = "not in the registry; for a package, write " + pkgs
	}
	return e
}

// suggestName returns the quoted registry name closest to name, and whether
// it matched exactly (ignoring case) or through an alias.
func suggestName(name string) (string, bool) {
	lower := strings.ToLower(name)
	for _, e := range registry {
		if e.Name == lower {
			return display(e), true
		}
	}
	for _, e := range registry {
		for _, a := range e.Aliases {
			if a == lower {
				return display(e), true
			}
		}
	}
	if e, ok := closest(lower); ok {
		return display(e), false
	}
	return "", false
}

// closest returns the entry whose name or alias is nearest to name, if it
// is within maxSuggestDistance and closer than half the name's length.
func closest(name string) (Entry, bool) {
	limit := min(maxSuggestDistance, len(name)/2)
	var best Entry
	bestDist := limit + 1
	for _, e := range registry {
		for _, cand := range append([]string{e.Name}, e.Aliases...) {
			if abs(len(name)-len(cand)) > limit {
				continue // too far apart to be a typo; skip the quadratic work
			}
			if d := textdist.Distance(name, cand); d < bestDist {
				best, bestDist = e, d
			}
		}
	}
	return best, bestDist <= limit
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func display(e Entry) string {
	if e.Method == MethodDocker {
		return `"docker:host" or "docker:dind"`
	}
	return fmt.Sprintf("%q", e.Name)
}

// packageSpecs lists, quoted, the specs that full would be valid as: a
// Debian package ("apt:vim"), if withApt and it is a Debian package name,
// and npm:, pip: and go: specs when it looks like a package name of theirs.
func packageSpecs(full string, withApt bool) string {
	var ok []string
	if _, err := Parse("apt:" + full); withApt && err == nil {
		ok = append(ok, fmt.Sprintf("%q", "apt:"+full))
	}
	if !strings.ContainsAny(full, "-_/@") {
		return strings.Join(ok, " or ")
	}
	for _, prefix := range []string{"npm:", "pip:", "go:"} {
		if _, err := Parse(prefix + full); err == nil {
			ok = append(ok, fmt.Sprintf("%q", prefix+full))
		}
	}
	return strings.Join(ok, " or ")
}
