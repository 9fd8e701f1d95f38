package deps

import (
	"errors"
	"strings"
	"testing"
)

// safeByte is every byte an accepted name, version or key may hold: none
// has a meaning to the shell inside single quotes, or to a Dockerfile.
func safeByte(c byte) bool {
	return isAlnum(c) || strings.IndexByte("._+-/@[],:", c) >= 0
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"git", "node@22", "npm:@scope/pkg@1.2", "pip:requests[socks]@2.31.0",
		"go:golang.org/x/tools/cmd/goimports@latest", "docker:dind", "nodejs", "npm:x@-rf", "apt:htop", "apt:g++"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		sp, err := Parse(spec)
		if err != nil {
			checkFuzzError(t, spec, err)
			return
		}
		checkSafe(t, "name", sp.Name)
		checkSafe(t, "version", sp.Version)
		set, err := Resolve([]string{spec})
		if err != nil {
			t.Fatalf("Parse(%q) accepted but Resolve failed: %v", spec, err)
		}
		for _, d := range set {
			checkSafe(t, "key", d.Key())
			for _, p := range d.Packages {
				checkSafe(t, "Debian package", p)
			}
		}
	})
}

func checkFuzzError(t *testing.T, spec string, err error) {
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("Parse(%q) error %T, want *SpecError", spec, err)
	}
	if msg := se.Error(); strings.ContainsAny(msg, "\n\r") || strings.HasSuffix(msg, ".") {
		t.Fatalf("Parse(%q) error is not one line without a final period: %q", spec, msg)
	}
}

func checkSafe(t *testing.T, what, s string) {
	if !only(s, safeByte) || strings.HasPrefix(s, "-") {
		t.Fatalf("accepted %s %q holds an unsafe character", what, s)
	}
}
