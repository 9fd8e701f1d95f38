package run

import (
	"context"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// feature is an optional part of a run, such as a Docker mode. Each one
// lives in its own file; the orchestrator only calls these two steps.
type feature interface {
	// check runs before anything is built or created: it refuses what
	// cannot work here, with an error that says what to do instead.
	check(ctx context.Context, m *Manager, p *plan) error
	// apply adds to the container and acquires the engine objects the
	// feature needs, pushing the undo of each onto undo. It records any
	// privilege it grants on r.
	apply(ctx context.Context, m *Manager, r *state.Run, p *plan, spec *runtime.ContainerSpec, undo *cleanupStack) error
}

// dockerModes maps each Docker mode to the feature that provides it.
var dockerModes = map[deps.DockerMode]feature{
	deps.DockerHost: dockerHost{},
	deps.DockerDind: dockerDind{},
}

// featuresFor returns the features a dependency set asks for.
func featuresFor(set []deps.Dep) []feature {
	var fs []feature
	for _, d := range set {
		if f, ok := dockerModes[d.Mode]; ok && d.Method == deps.MethodDocker {
			fs = append(fs, f)
		}
	}
	return fs
}
