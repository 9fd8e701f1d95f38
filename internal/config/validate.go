package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/moatsh/moat/internal/deps"
)

// nulHint is the remedy for a NUL byte, usually written as a "\0" escape.
const nulHint = `Remove the NUL byte (a "\0" escape).`

// Patterns, here and in the package's other files, are compiled on first
// use, not at start: every moat process (the CLI, the proxy, the relay)
// pays for what package init does.
var (
	nameRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`) })
	envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
)

func checkName(name string) *problem {
	if name == "" {
		return newProblem("Remove the name field to let moat pick a random name.",
			`invalid name "": it must not be empty`)
	}
	if nameRE().MatchString(name) {
		return nil
	}
	hint := "Use lowercase letters, digits, \".\", \"_\" and \"-\"."
	if s := sanitizeName(name); s != "" {
		hint = fmt.Sprintf("Did you mean %q?", s)
	}
	return newProblem(hint, "invalid name %q: it must start with a lowercase letter or digit, "+
		"contain only a-z, 0-9, \".\", \"_\" and \"-\", and be at most 63 characters long", name)
}

// sanitizeName turns name into a valid one, or returns "" if nothing is left.
func sanitizeName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimLeft(b.String(), "._-")
	s = strings.TrimRight(s[:min(len(s), 63)], "._-")
	if !nameRE().MatchString(s) {
		return ""
	}
	return s
}

// resolveDependencies parses each spec with deps.Parse, then resolves the
// set with deps.ResolveSpecs (two versions of one dependency conflict;
// exact duplicates are fine). On failure it returns the index of the spec
// at fault, or -1.
func resolveDependencies(specs []string) ([]deps.Dep, int, *problem) {
	parsed := make([]deps.Spec, len(specs))
	for i, s := range specs {
		sp, err := deps.Parse(s)
		if err != nil {
			return nil, i, dependencyProblem(err)
		}
		parsed[i] = sp
	}
	set, err := deps.ResolveSpecs(parsed)
	if err != nil {
		return nil, specIndex(specs, err), dependencyProblem(err)
	}
	return set, -1, nil
}

func dependencyProblem(err error) *problem {
	p := &problem{msg: err.Error(), err: err}
	var se *deps.SpecError
	if errors.As(err, &se) {
		p.hint = se.Remedy
	}
	return p
}

// specIndex finds the spec a deps error is about, or -1.
func specIndex(specs []string, err error) int {
	var se *deps.SpecError
	if errors.As(err, &se) {
		return slices.Index(specs, se.Spec)
	}
	return -1
}

// ReservedEnvPrefix starts the variables moat sets for its own init; the
// user's env cannot override them.
const ReservedEnvPrefix = "MOAT_"

func checkEnvName(name string) *problem {
	if !envNameRE().MatchString(name) {
		return newProblem("Use a name like MY_VAR.",
			"invalid env name %q: it must start with a letter or \"_\" and contain only letters, digits and \"_\"", name)
	}
	if strings.HasPrefix(strings.ToUpper(name), ReservedEnvPrefix) {
		return newProblem("Choose a name that does not start with "+ReservedEnvPrefix+".",
			"env name %q is reserved: moat sets %s* variables for the run itself", name, ReservedEnvPrefix)
	}
	return nil
}

func checkEnvValue(name, value string) *problem {
	if strings.ContainsRune(value, 0) {
		return newProblem(nulHint, "invalid value for env %s: it contains a NUL byte", name)
	}
	return nil
}

// checkCommand checks a command line. On failure it also returns the index
// of the bad element, or -1 when the whole list is at fault.
func checkCommand(cmd []string) (int, *problem) {
	if len(cmd) == 0 {
		return -1, newProblem("Remove the command field to use the default command.",
			"invalid command: the list is empty")
	}
	if cmd[0] == "" {
		return 0, newProblem(`Put the program to run first, e.g. command: ["make", "test"].`,
			"invalid command: the program to run (the first element) is empty")
	}
	for i, arg := range cmd {
		if strings.ContainsRune(arg, 0) {
			return i, newProblem(nulHint, "invalid command: argument %q contains a NUL byte", arg)
		}
	}
	return -1, nil
}

// CheckName validates a run name given outside agent.yaml (--name); the
// error carries a remedy (Hint).
func CheckName(name string) error {
	if p := checkName(name); p != nil {
		return p
	}
	return nil
}

// CheckEnvName validates an environment variable name given outside
// agent.yaml (-e); the error carries a remedy (Hint).
func CheckEnvName(name string) error {
	if p := checkEnvName(name); p != nil {
		return p
	}
	return nil
}
