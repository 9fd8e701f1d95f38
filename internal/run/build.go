package run

import (
	"context"

	"github.com/moatsh/moat/internal/image"
)

// BuildImage builds, or finds, the image a run of opts's workspace would
// use, as Run plans it (agent.yaml's dependencies and base image, checked
// against what the user approved), without starting anything: 'moat
// build' ahead of a run. opts.Rebuild builds it again without the engine's
// cache.
func (m *Manager) BuildImage(ctx context.Context, opts Options) (image.Result, error) {
	p, err := m.startPlan(opts)
	if err != nil {
		return image.Result{}, err
	}
	for _, step := range m.approvedSteps(ctx) {
		if err := step(m, opts, p); err != nil {
			return image.Result{}, err
		}
	}
	return m.ensureImage(ctx, p, opts.Rebuild)
}
