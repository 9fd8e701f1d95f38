package npmreg

import (
	"cmp"
	"strconv"
	"strings"
)

// compareVersions orders versions by semver precedence, so the packument's
// latest is the highest cached version; anything that is not semver sorts
// below all that is, by string.
func compareVersions(a, b string) int {
	va, oka := parseSemver(a)
	vb, okb := parseSemver(b)
	switch {
	case oka && okb:
		for i := range va.core {
			if c := cmp.Compare(va.core[i], vb.core[i]); c != 0 {
				return c
			}
		}
		return comparePrerelease(va.pre, vb.pre)
	case oka != okb:
		if oka {
			return 1
		}
		return -1
	}
	return strings.Compare(a, b)
}

type semver struct {
	core [3]uint64
	pre  []string
}

func parseSemver(v string) (semver, bool) {
	var s semver
	v, _, _ = strings.Cut(v, "+") // build metadata does not order
	core, pre, hasPre := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return s, false
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return s, false
		}
		s.core[i] = n
	}
	if hasPre {
		s.pre = strings.Split(pre, ".")
	}
	return s, true
}

// comparePrerelease follows semver: a release is above its prereleases;
// numeric identifiers compare as numbers and below alphanumeric ones.
func comparePrerelease(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return cmp.Compare(len(b), len(a))
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		na, erra := strconv.ParseUint(a[i], 10, 64)
		nb, errb := strconv.ParseUint(b[i], 10, 64)
		var c int
		switch {
		case erra == nil && errb == nil:
			c = cmp.Compare(na, nb)
		case erra == nil:
			c = -1
		case errb == nil:
			c = 1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}
