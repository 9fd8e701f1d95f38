package deps

import (
	"fmt"
	"slices"
	"strings"
)

// maxSpecLen bounds a spec: the longest npm name and version fit.
const maxSpecLen = 300

// packageKind describes one "<prefix>:<package>[@version]" form.
type packageKind struct {
	method Method
	// check returns the canonical package name, or the reason it is invalid.
	check func(name string) (string, string)
}

var packageKinds = map[string]packageKind{
	"apt": {MethodDebian, asIs(checkDebianName)},
	"npm": {MethodNPM, asIs(checkNPMName)},
	"pip": {MethodPip, normalizePip},
	"go":  {MethodGoInstall, asIs(checkGoPath)},
}

func asIs(check func(string) string) func(string) (string, string) {
	return func(name string) (string, string) { return name, check(name) }
}

// Parse parses one spec as written in agent.yaml: a registry name with an
// optional version ("git", "node@22"), a package ("npm:@scope/pkg@1.2",
// "pip:requests[socks]@2.31.0", "go:golang.org/x/tools/cmd/goimports@v0.20.0")
// or a docker mode ("docker:host"). Errors are *SpecError.
func Parse(spec string) (Spec, error) {
	s := strings.TrimSpace(spec)
	if len(s) > maxSpecLen {
		return Spec{}, invalid(spec, fmt.Sprintf("the spec is longer than %d characters", maxSpecLen))
	}
	var sp Spec
	var err *SpecError
	if prefix, rest, ok := strings.Cut(s, ":"); ok {
		sp, err = parsePrefixed(spec, prefix, rest)
	} else {
		sp, err = parseRegistry(spec, s)
	}
	if err != nil {
		return Spec{}, err
	}
	sp.Raw = spec
	return sp, nil
}

func parsePrefixed(spec, prefix, rest string) (Spec, *SpecError) {
	if prefix == "docker" {
		return parseDocker(spec, rest)
	}
	kind, ok := packageKinds[prefix]
	if !ok {
		return Spec{}, unknownPrefix(spec, prefix, rest)
	}
	name, version, reason := splitVersion(rest)
	if reason == "" {
		name, reason = kind.check(name)
	}
	if reason == "" && kind.method == MethodDebian && version != "" {
		reason = fmt.Sprintf("a Debian package comes at the version of the base image's release; write %q", "apt:"+name)
	}
	if reason != "" {
		return Spec{}, invalid(spec, reason)
	}
	return Spec{Name: name, Method: kind.method, Version: version}, nil
}

// splitVersion splits "pkg@ver" at the last "@"; a leading "@" belongs to
// an npm scope.
func splitVersion(s string) (name, version, reason string) {
	i := strings.LastIndexByte(s, '@')
	if i <= 0 {
		return s, "", ""
	}
	version = s[i+1:]
	return s[:i], version, checkVersion(version)
}

func parseDocker(spec, mode string) (Spec, *SpecError) {
	switch m := DockerMode(mode); m {
	case DockerHost, DockerDind:
		return Spec{Name: "docker", Method: MethodDocker, Mode: m}, nil
	case "":
		return Spec{}, dockerError(spec, "a mode is required: "+dockerModes)
	}
	if strings.Contains(mode, "@") {
		return Spec{}, dockerError(spec, "docker takes a mode, not a version: "+dockerModes)
	}
	return Spec{}, dockerError(spec, fmt.Sprintf("unknown docker mode %q: valid modes are host and dind", mode))
}

func dockerError(spec, reason string) *SpecError {
	return &SpecError{Spec: spec, Reason: reason, Remedy: dockerHint}
}

func parseRegistry(spec, s string) (Spec, *SpecError) {
	if s == "" {
		return Spec{}, invalid(spec, "the spec is empty")
	}
	name, version, versioned := strings.Cut(s, "@")
	e, ok := Lookup(name)
	if !ok {
		return Spec{}, unknownName(spec, name, s)
	}
	if e.Method == MethodDocker && versioned {
		return Spec{}, dockerError(spec, "docker takes a mode, not a version: "+dockerModes)
	}
	if e.Method == MethodDocker {
		return Spec{}, dockerError(spec, "a mode is required: "+dockerModes)
	}
	if versioned {
		if reason := checkAllowed(e, version); reason != "" {
			return Spec{}, invalid(spec, reason)
		}
	}
	return Spec{Name: e.Name, Method: e.Method, Version: version}, nil
}

func checkAllowed(e Entry, version string) string {
	if reason := checkVersion(version); reason != "" {
		return reason
	}
	if len(e.Versions) == 0 {
		return fmt.Sprintf("%s is not versioned; write %q", e.Name, e.Name)
	}
	if !slices.Contains(e.Versions, version) {
		return "version must be one of " + strings.Join(e.Versions, ", ")
	}
	return ""
}

func unknownPrefix(spec, prefix, rest string) *SpecError {
	e := invalid(spec, fmt.Sprintf("unknown prefix %q; use apt:, npm:, pip:, go: or docker:", prefix+":"))
	lower := strings.ToLower(prefix)
	if p, ok := prefixAliases[lower]; ok {
		e.Reason = fmt.Sprintf("unknown prefix %q: did you mean %q?", prefix+":", p+":"+rest)
	} else if slices.Contains(aptPrefixes, lower) {
		e.Reason = fmt.Sprintf("unknown prefix %q: did you mean %q?", prefix+":", "apt:"+rest)
	}
	return e
}
