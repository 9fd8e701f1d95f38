package policy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"api.github.com", "*.example.com:443", "10.0.0.0/8", "[::1]:443", "https://x/y", "*.*.x", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s, "fuzz")
		if err != nil {
			return
		}
		again, err := ParseRule(r.Pattern, "fuzz")
		if err != nil {
			t.Fatalf("ParseRule(%q) gave pattern %q, which does not re-parse: %v", s, r.Pattern, err)
		}
		if !sameRule(r, again) {
			t.Fatalf("ParseRule(%q) = %+v, but its pattern re-parses to %+v", s, r, again)
		}
		if strings.ContainsAny(r.Pattern, " \t\r\n") || strings.Contains(r.Pattern, "://") {
			t.Fatalf("ParseRule(%q) accepted pattern %q", s, r.Pattern)
		}
		if strings.Contains(r.Pattern, "/") && (r.Prefix == nil || r.Host != "") {
			t.Fatalf("ParseRule(%q): slash in non-CIDR pattern %q", s, r.Pattern)
		}
		if (r.Prefix == nil) == (r.Host == "") {
			t.Fatalf("ParseRule(%q) = %+v: exactly one of Host and Prefix must be set", s, r)
		}
	})
}

// FuzzRequestPath checks path patterns and request targets together: a
// pattern that parses re-parses from its text; a target splitTarget
// accepts holds none of the forms it refuses; and match agrees with a
// regular expression built from the pattern's documented meaning.
func FuzzRequestPath(f *testing.F) {
	for _, s := range [][2]string{
		{"/repos/org/repo/**", "/repos/org/repo/issues?x=1"},
		{"/a/*/c", "/a/%2e%2e/c"},
		{"/**/b/**", "/x/b/y/b"},
		{"/v1/*.json", "/v1/a%2fb.json"},
		{"/", "*"},
		{"/a/**", "/a/..;/b"},
		{"/a*b*c", "/aXbYbZc"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, target string) {
		segs, why := splitTarget(target)
		if why == "" {
			checkSafeSegments(t, target, segs)
		}
		p, err := ParsePathPattern(pattern)
		if err != nil {
			return
		}
		if again, err := ParsePathPattern(p.String()); err != nil || !slices.Equal(again.segs, p.segs) {
			t.Fatalf("pattern %q does not re-parse from its text: %v", pattern, err)
		}
		if why != "" {
			return
		}
		want := patternRegexp(p).MatchString("/" + strings.Join(segs, "/"))
		if got := p.match(segs); got != want {
			t.Fatalf("pattern %q on %q: match %v, regexp %v", pattern, target, got, want)
		}
	})
}

func checkSafeSegments(t *testing.T, target string, segs []string) {
	t.Helper()
	for i, seg := range segs {
		name, _, _ := strings.Cut(seg, ";")
		if name == "." || name == ".." || seg == "" && i < len(segs)-1 ||
			strings.ContainsAny(seg, "%\\\x00\r\n") || !utf8.ValidString(seg) {
			t.Fatalf("splitTarget(%q) accepted unsafe segment %q", target, seg)
		}
	}
}

// patternRegexp is the documented meaning of a path pattern as a regular
// expression over "/"-joined segments: "**" is any number of whole
// segments, "*" any run of characters but "/".
func patternRegexp(p PathPattern) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, seg := range p.segs {
		if seg == "**" {
			b.WriteString("(/[^/]*)*")
			continue
		}
		b.WriteString("/")
		for i, part := range strings.Split(seg, "*") {
			if i > 0 {
				b.WriteString("[^/]*")
			}
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
