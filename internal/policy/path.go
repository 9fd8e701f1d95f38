package policy

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// PathPattern is one parsed path of a rule, such as "/repos/org/repo/**".
// It is matched segment by segment against a request's percent-decoded
// path: "*" matches any characters within one segment (none included),
// "**" as a whole segment matches any number of whole segments (none
// included), and everything else matches itself, case-sensitively. The
// query is never matched.
type PathPattern struct {
	text string   // as written
	segs []string // the segments after the leading "/"
}

// String returns the pattern as written.
func (p PathPattern) String() string { return p.text }

// ParsePathPattern parses one path of a rule: absolute, without dot
// segments or doubled slashes, "**" only as a whole segment, and without
// the characters a request's decoded path is refused for (see splitTarget)
// or that belong to the query.
func ParsePathPattern(s string) (PathPattern, error) {
	bad := func(why, fix string) (PathPattern, error) {
		return PathPattern{}, &RequestRuleError{"path", s, why, fix}
	}
	if !strings.HasPrefix(s, "/") {
		return bad("paths are absolute", `start it with "/", as in "/repos/org/repo/**"`)
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8", "")
	}
	for _, c := range s {
		switch {
		case c < 0x20 || c == 0x7f:
			return bad("contains a control character", "")
		case c == ' ':
			return bad("contains a space", `match it with "*"`)
		case c == '?' || c == '#':
			return bad("paths match the path only, never the query or a fragment", "remove what starts at "+string(c))
		case c == '%':
			return bad("paths match the decoded path, so a pattern holds no %-escapes", `write the character itself, or match it with "*"`)
		case c == '\\':
			return bad("contains a backslash, which requests to hosts with paths may not hold", "")
		}
	}
	segs := strings.Split(s[1:], "/")
	for i, seg := range segs {
		switch {
		case seg == "" && i < len(segs)-1:
			return bad(`contains "//"`, "write one slash")
		case seg == "." || seg == "..":
			return bad(`contains a "." or ".." segment`, "write the path it stands for")
		case seg != "**" && strings.Contains(seg, "**"):
			return bad(`"**" must be a whole segment`, `write "/**" for any number of segments, or "*" within one`)
		}
	}
	return PathPattern{text: s, segs: segs}, nil
}

// match reports whether a request's decoded path segments match p. It
// tracks the set of positions in segs the pattern so far can end at, so
// patterns with several "**" take time linear in their length times the
// path's, never exponential.
func (p PathPattern) match(segs []string) bool {
	at := make([]bool, len(segs)+1) // at[j]: the pattern so far matches segs[:j]
	at[0] = true
	for _, pat := range p.segs {
		if pat == "**" {
			first := slices.Index(at, true)
			if first < 0 {
				return false
			}
			for j := first; j < len(at); j++ {
				at[j] = true
			}
			continue
		}
		for j := len(segs); j > 0; j-- {
			at[j] = at[j-1] && matchSegment(pat, segs[j-1])
		}
		at[0] = false
	}
	return at[len(segs)]
}

// matchSegment matches one segment against a pattern segment in which
// "*" matches any run of characters, by the usual greedy backtracking.
func matchSegment(pat, s string) bool {
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(pat) && pat[i] == '*':
			star, mark = i, j
			i++
		case i < len(pat) && pat[i] == s[j]:
			i++
			j++
		case star >= 0:
			mark++
			i, j = star+1, mark
		default:
			return false
		}
	}
	for i < len(pat) && pat[i] == '*' {
		i++
	}
	return i == len(pat)
}

// splitTarget decodes a request-target's path once and splits it into
// segments, or says why it cannot be matched safely: servers disagree on
// what such a path names, so a pattern matched here might allow a path the
// server reads as another. It refuses a target that is not an absolute
// path ("*", an absolute URI), a bad or doubled %-escape (%25), an encoded
// "/" or "\" (%2F, %5C), a backslash, a control character (NUL among them)
// or invalid UTF-8 after decoding, an empty segment ("//") but a final
// one, and a "." or ".." segment, also encoded (%2E) or followed by
// ";parameters" as some servers read it ("..;").
func splitTarget(target string) (segs []string, why string) {
	raw, _, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(raw, "/") {
		return nil, "the target is not an absolute path"
	}
	lower := strings.ToLower(raw)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return nil, "the path has an encoded slash or backslash"
	}
	path, err := url.PathUnescape(raw)
	if err != nil {
		return nil, "the path has an invalid %-escape"
	}
	if !utf8.ValidString(path) {
		return nil, "the decoded path is not valid UTF-8"
	}
	for _, c := range []byte(path) {
		switch {
		case c < 0x20 || c == 0x7f:
			return nil, "the path has a control character"
		case c == '%':
			return nil, "the path is encoded twice (it holds %25)"
		case c == '\\':
			return nil, "the path has a backslash"
		}
	}
	segs = strings.Split(path[1:], "/")
	for i, seg := range segs {
		if seg == "" && i < len(segs)-1 {
			return nil, `the path has an empty segment ("//")`
		}
		if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
			return nil, `the path has a "." or ".." segment`
		}
	}
	return segs, ""
}
