package policy

import (
	"fmt"
	"strings"
)

// RefRules is network.git-push: the refs a git push over HTTPS may update.
// A pattern names a branch ("agent/*", short for "refs/heads/agent/*") or a
// full ref ("refs/tags/v*"); "*" matches any run of characters, "/"
// included, as in git's refspecs. A push that updates any other ref, or
// deletes any ref, is refused whole.
type RefRules struct {
	Patterns []string // full refs, as ParseRefPattern returns them
}

// ParseRefPattern checks one network.git-push entry and returns it as a
// full ref pattern.
func ParseRefPattern(s string) (string, error) {
	p := strings.TrimSpace(s)
	switch {
	case p == "":
		return "", fmt.Errorf("network.git-push: an empty pattern; write a branch such as agent/* or a ref such as refs/tags/v*")
	case p != s:
		return "", fmt.Errorf("network.git-push: pattern %q has spaces around it", s)
	case strings.HasPrefix(p, "refs/") && !strings.HasPrefix(p, "refs/heads/") && !strings.HasPrefix(p, "refs/tags/"):
		return "", fmt.Errorf("network.git-push: pattern %q: only branches (refs/heads/...) and tags (refs/tags/...) can be allowed", s)
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?[\\", r) {
			return "", fmt.Errorf("network.git-push: pattern %q holds %q, which no git ref name can", s, r)
		}
	}
	if strings.Contains(p, "..") || strings.Contains(p, "//") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("network.git-push: pattern %q is not a ref name (no \"..\", \"//\" or leading or trailing \"/\")", s)
	}
	if !strings.HasPrefix(p, "refs/") {
		p = "refs/heads/" + p
	}
	return p, nil
}

// Allows reports whether a push may update ref (a full ref name).
func (r *RefRules) Allows(ref string) bool {
	for _, p := range r.Patterns {
		if globMatch(p, ref) {
			return true
		}
	}
	return false
}

// Describe lists the patterns for a refusal: "refs/heads/agent/*".
func (r *RefRules) Describe() string {
	if len(r.Patterns) == 0 {
		return "no ref"
	}
	return strings.Join(r.Patterns, ", ")
}

// globMatch matches s against p, where "*" matches any run of characters.
func globMatch(p, s string) bool {
	star, backtrack := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && p[i] == '*':
			star, backtrack = i, j
			i++
		case i < len(p) && p[i] == s[j]:
			i++
			j++
		case star >= 0:
			backtrack++
			i, j = star+1, backtrack
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}
