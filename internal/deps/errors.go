package deps

import "fmt"

// SpecError reports a dependency spec that cannot be used. Error gives the
// first line, e.g. `unknown dependency "nodejs": did you mean "node"?`;
// Hint, when set, is the remedy to print after it.
type SpecError struct {
	Spec   string // the spec as written
	Reason string // why it was rejected
	Hint   string // what to do about it, "" when the reason says it all

	unknown bool // the name is not in the registry
}

func (e *SpecError) Error() string {
	what := "invalid"
	if e.unknown {
		what = "unknown"
	}
	return fmt.Sprintf("%s dependency %q: %s", what, e.Spec, e.Reason)
}

func invalid(spec, reason string) *SpecError {
	return &SpecError{Spec: spec, Reason: reason}
}

const (
	listHint   = "Run 'moat deps list' to see the available dependencies."
	dockerHint = "Use docker:host to share the host's Docker engine (fast, shares its images, " +
		"but the agent controls the host), or docker:dind for a private Docker daemon " +
		"inside the run (isolated, starts empty, needs a privileged container)."
	dockerModes = `"docker:host" (the host's engine: fast, full host access) or ` +
		`"docker:dind" (a private daemon inside the run: isolated)`
)
