package deps

import (
	"fmt"
	"strings"
)

// maxSuggestDistance is the largest edit distance still worth suggesting.
const maxSuggestDistance = 2

// unknownName reports a name missing from the registry, with the closest
// entry and, when full looks like a package, the prefixed specs that parse.
func unknownName(spec, name, full string) *SpecError {
	e := &SpecError{Spec: spec, Reason: "not in the registry", Remedy: listHint, unknown: true}
	guess, exact := suggestName(name)
	pkgs := packageSpecs(full)
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
			if d := editDistance(name, cand); d < bestDist {
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

// packageSpecs lists, quoted, the npm:, pip: and go: specs that full would
// be valid as, when it looks like a package name.
func packageSpecs(full string) string {
	if !strings.ContainsAny(full, "-_/@") {
		return ""
	}
	var ok []string
	for _, prefix := range []string{"npm:", "pip:", "go:"} {
		if _, err := Parse(prefix + full); err == nil {
			ok = append(ok, fmt.Sprintf("%q", prefix+full))
		}
	}
	return strings.Join(ok, " or ")
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and adjacent transpositions cost 1.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
