package deps

import "fmt"

// SpecError reports a dependency spec that cannot be used. Error gives the
// first line, e.g. `unknown dependency "nodejs": did you mean "node"?`;
// Remedy, when set, is what to do about it, printed after it.
type SpecError struct {
	Spec   string // the spec as written
	Reason string // why it was rejected
	Remedy string // what to do about it, "" when the reason says it all

	unknown bool // the name is not in the registry
}

func (e *SpecError) Error() string {
	what := "invalid"
	if e.unknown {
		what = "unknown"
	}
	return fmt.Sprintf("%s dependency %q: %s", what, e.Spec, e.Reason)
}

// Hint returns the remedy, for the CLI to print after the error.
func (e *SpecError) Hint() string { return e.Remedy }

func invalid(spec, reason string) *SpecError {
	return &SpecError{Spec: spec, Reason: reason}
}

const (
	listHint   = "Run 'moat deps list' to see the available dependencies."
	dockerHint = "Use docker:host to share the host's Docker engine (fast, shares its images, " +
		"but the agent controls the host), or docker:dind for a private Docker daemon " +
		"inside the run (isolated, starts empty, needs extra container capabilities)."
	dockerModes = `"docker:host" (the host's engine: fast, full host access) or ` +
		`"docker:dind" (a private daemon inside the run: isolated)`
)
