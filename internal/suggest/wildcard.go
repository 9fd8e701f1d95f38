package suggest

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// wildcardAt is how many names directly below one domain, used on the same
// ports, make a wildcard rule: that many usually come from a CDN or a
// sharded service, whose next run uses other names.
const wildcardAt = 4

// wildcard is one wildcard rule over names that were refused one by one:
// a rule to add in their place, or, over a whole registrable domain, a
// risky one shown beside them (they are then added one by one).
type wildcard struct {
	pattern string
	names   []string
	reached map[string]bool
	risky   *Risky
}

// wildcards groups the refused names by parent domain and ports, and
// returns a wildcard for each group of wildcardAt or more. A parent that is
// a public suffix ("com", "co.uk") gets none at all.
func wildcards(names map[string]*nameUse) []wildcard {
	type group struct{ parent, ports string }
	groups := map[group][]string{}
	for name, u := range names {
		_, parent, ok := strings.Cut(name, ".")
		if !ok {
			continue
		}
		g := group{parent, u.portKey()}
		groups[g] = append(groups[g], name)
	}
	var out []wildcard
	for g, members := range groups {
		if len(members) < wildcardAt {
			continue
		}
		registrable, err := publicsuffix.EffectiveTLDPlusOne(g.parent)
		if err != nil {
			continue // the parent is a public suffix, or not a domain
		}
		slices.Sort(members)
		reached := map[string]bool{}
		for _, m := range members {
			maps.Copy(reached, names[m].reached)
		}
		for _, pattern := range wildcardPatterns(g.parent, g.ports) {
			w := wildcard{pattern: pattern, names: members, reached: reached}
			if registrable == g.parent {
				w.risky = &Risky{
					Pattern: pattern,
					Reason:  fmt.Sprintf("a wildcard over the whole domain %s (%d names below it were reached; they are added one by one)", g.parent, len(members)),
					Allows:  fmt.Sprintf("every name below %s%s, whoever runs it", g.parent, portPhrase(g.ports)),
					Reached: slices.Sorted(maps.Keys(reached)),
				}
			}
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b wildcard) int { return strings.Compare(a.pattern, b.pattern) })
	return out
}

// wildcardPatterns are the rules "*.parent", one per port when the names
// were used on other ports than their schemes' own.
func wildcardPatterns(parent, ports string) []string {
	if ports == "" {
		return []string{"*." + parent}
	}
	var out []string
	for _, p := range strings.Split(ports, ",") {
		out = append(out, "*."+parent+":"+p)
	}
	return out
}

func portPhrase(ports string) string {
	if ports == "" {
		return ", on every port"
	}
	return ", on port " + ports
}
