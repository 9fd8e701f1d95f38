package deps

import (
	"fmt"
	"slices"
	"strings"
)

// The checks below are allow-lists: whatever they accept is later pasted
// into shell commands, so they admit no space, quote, $, `, ;, |, &, control
// character or leading '-'. Each returns "" when the input is acceptable,
// else the reason it is not.

const (
	maxVersionLen = 64
	maxNPMNameLen = 214
	maxPipNameLen = 100
	maxGoPathLen  = 255
)

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) }

// only reports whether every byte of s satisfies ok.
func only(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// firstBad returns the first byte of s that ok rejects, quoted for a message.
func firstBad(s string, ok func(byte) bool) string {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return fmt.Sprintf("%q", s[i:i+1])
		}
	}
	return ""
}

func versionByte(c byte) bool { return isAlnum(c) || strings.IndexByte("._+-", c) >= 0 }

func checkVersion(v string) string {
	switch {
	case v == "":
		return `the version after "@" is empty`
	case len(v) > maxVersionLen:
		return fmt.Sprintf("the version is longer than %d characters", maxVersionLen)
	case !only(v, versionByte):
		return fmt.Sprintf(`version %q contains %s; use only letters, digits, ".", "_", "+" and "-"`,
			v, firstBad(v, versionByte))
	case !isAlnum(v[0]):
		return fmt.Sprintf("version %q must start with a letter or digit", v)
	}
	return ""
}

func npmByte(c byte) bool { return isLower(c) || isDigit(c) || strings.IndexByte("._-", c) >= 0 }

// checkNPMName accepts "name" or "@scope/name", each part lower-case
// letters, digits, ".", "_" and "-", starting with a letter or digit.
func checkNPMName(name string) string {
	bad := fmt.Sprintf(`%q is not an npm package name: use lower-case letters, digits, ".", "_" and "-", `+
		`optionally after "@scope/"`, name)
	if name == "" {
		return "the package name is empty"
	}
	if len(name) > maxNPMNameLen {
		return fmt.Sprintf("the package name is longer than %d characters", maxNPMNameLen)
	}
	parts := []string{name}
	if scope, pkg, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(scope, "@") {
		parts = []string{scope[1:], pkg}
	}
	for _, p := range parts {
		if p == "" || !only(p, npmByte) || !isAlnum(p[0]) {
			return bad
		}
	}
	return ""
}

// wordByte is a byte of a Python package name or a Go path element.
func wordByte(c byte) bool { return isAlnum(c) || strings.IndexByte("._-", c) >= 0 }

// checkPipName accepts a PEP 508 name: letters, digits, ".", "_" and "-",
// starting and ending with a letter or digit.
func checkPipName(name string) string {
	if name == "" || len(name) > maxPipNameLen || !only(name, wordByte) ||
		!isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return fmt.Sprintf(`%q is not a Python package name: use letters, digits, ".", "_" and "-", `+
			`starting and ending with a letter or digit`, name)
	}
	return ""
}

// normalizePip parses "name" or "name[extra,...]" and returns the canonical
// form: names lower-cased with runs of "-_." as "-", extras sorted.
func normalizePip(s string) (string, string) {
	name, extras, hasExtras := strings.Cut(s, "[")
	if reason := checkPipName(name); reason != "" {
		return "", reason
	}
	out := pipCanonical(name)
	if !hasExtras {
		return out, ""
	}
	list, ok := strings.CutSuffix(extras, "]")
	if !ok {
		return "", fmt.Sprintf(`extras in %q must end with "]"`, s)
	}
	var canon []string
	for _, x := range strings.Split(list, ",") {
		if reason := checkPipName(x); reason != "" {
			return "", "bad extra: " + reason
		}
		canon = append(canon, pipCanonical(x))
	}
	slices.Sort(canon)
	return out + "[" + strings.Join(slices.Compact(canon), ",") + "]", ""
}

func pipCanonical(name string) string {
	var b strings.Builder
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if strings.IndexByte("._-", c) >= 0 {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		if isUpper(c) {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func goHostByte(c byte) bool { return isLower(c) || isDigit(c) || c == '.' || c == '-' }

func goElemOK(e string) bool {
	return e != "" && only(e, wordByte) && isAlnum(e[0]) && e[len(e)-1] != '.'
}

func goHostOK(h string) bool { return goElemOK(h) && only(h, goHostByte) && strings.Contains(h, ".") }

// checkGoPath accepts a module or package path like golang.org/x/tools/cmd/goimports:
// "/"-separated elements of letters, digits, ".", "_" and "-", each starting
// with a letter or digit; the first is a lower-case host name with a dot.
func checkGoPath(path string) string {
	bad := fmt.Sprintf(`%q is not a Go package path: it must look like "example.com/owner/tool", `+
		`with letters, digits, ".", "_" and "-" between the slashes`, path)
	if path == "" || len(path) > maxGoPathLen {
		return bad
	}
	elems := strings.Split(path, "/")
	if !goHostOK(elems[0]) {
		return bad
	}
	for _, e := range elems[1:] {
		if !goElemOK(e) {
			return bad
		}
	}
	return ""
}

// maxDebianNameLen bounds a Debian package name; the archive's longest are
// far shorter.
const maxDebianNameLen = 100

func debianByte(c byte) bool { return isLower(c) || isDigit(c) || strings.IndexByte("+.-", c) >= 0 }

// checkDebianName accepts a Debian package name as Debian policy defines
// it: lower-case letters, digits, "+", "-" and ".", at least two
// characters, starting with a letter or digit. It goes into the image's
// apt-get command line, so nothing else may.
func checkDebianName(name string) string {
	switch {
	case name == "":
		return "the package name is empty"
	case len(name) > maxDebianNameLen:
		return fmt.Sprintf("the package name is longer than %d characters", maxDebianNameLen)
	case len(name) < 2 || !only(name, debianByte) || !isAlnum(name[0]):
		return fmt.Sprintf(`%q is not a Debian package name: use lower-case letters, digits, "+", "-" and ".", starting with a letter or digit`, name)
	}
	return ""
}
