package policy

import (
	"strings"
	"testing"
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
