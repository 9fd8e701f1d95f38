package run

import (
	"context"
	"sync"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// feature is a part of a run beyond the agent's bare container: egress
// (the proxy sidecar, egress.go), docker:host, docker:dind and the BuildKit
// sidecar, each in its own file. The orchestrator calls every feature of a
// run at each phase, in order, and names none of them: a new part of a run
// is a new file and an entry in featuresFor. A feature embeds phases and
// implements the phases it takes part in.
type feature interface {
	// initContract is what the feature needs from moat-init: the steps
	// that run for it and the variables it sets for them.
	initContract() initContract
	// check runs before anything is built or created, against the
	// engine: it refuses what cannot work here, with an error that says
	// what to do instead.
	check(ctx context.Context, m *Manager, p *plan) error
	// shape adds to the agent's container spec and prepares the
	// feature's sidecar specs; it acquires the engine objects they need
	// (volumes), pushing the undo of each. It records any privilege it
	// grants on r. img is the run's image as Ensure checked it.
	shape(ctx context.Context, m *Manager, r *state.Run, p *plan, img image.Result, agent *runtime.ContainerSpec, undo *cleanupStack) error
	// startSidecars starts the feature's work alongside the creation and
	// start of the agent's container, pushing the undo of what it
	// creates; agent gives the agent container's ID once it exists. The
	// channel (nil: nothing started) reports once the sidecars are ready
	// for afterStart, or failed. Every way out of a run waits for it.
	startSidecars(ctx context.Context, m *Manager, r *state.Run, p *plan, agent *agentContainer, undo *cleanupStack) <-chan error
	// afterStart runs once the agent's container runs and every feature's
	// sidecars are ready: sidecars that join the agent's namespaces start
	// here. The command waits (in moat-init) until they answer.
	afterStart(ctx context.Context, m *Manager, r *state.Run, p *plan, undo *cleanupStack) error
	// salvage keeps what the feature needs from the agent's container
	// of a finished run (a log inside it) before the container goes.
	salvage(ctx context.Context, m *Manager, r *state.Run)
	// finish removes the feature's sidecars of a finished run, keeping
	// their logs, alongside the removal of the agent's container. Like
	// salvage it works from the run's record alone: the moat process that
	// finishes a run ('moat stop', or 'moat list' finding it ended) may
	// not be the one that created it.
	finish(ctx context.Context, m *Manager, r *state.Run, sidecars *runSidecars)
}

// phases gives a feature every phase as one that does nothing.
type phases struct{}

func (phases) initContract() initContract                   { return initContract{} }
func (phases) check(context.Context, *Manager, *plan) error { return nil }
func (phases) shape(context.Context, *Manager, *state.Run, *plan, image.Result, *runtime.ContainerSpec, *cleanupStack) error {
	return nil
}
func (phases) startSidecars(context.Context, *Manager, *state.Run, *plan, *agentContainer, *cleanupStack) <-chan error {
	return nil
}
func (phases) afterStart(context.Context, *Manager, *state.Run, *plan, *cleanupStack) error {
	return nil
}
func (phases) salvage(context.Context, *Manager, *state.Run)              {}
func (phases) finish(context.Context, *Manager, *state.Run, *runSidecars) {}

// dockerModes maps each Docker mode to the feature that provides it.
var dockerModes = map[deps.DockerMode]func() feature{
	deps.DockerHost: func() feature { return dockerHost{} },
	deps.DockerDind: func() feature { return dockerDind{} },
}

// featuresFor returns the features of a run with a dependency set, new
// for the run (a feature may keep the run's state between phases), in the
// order their phases run: egress first, whose variables the others adjust.
func featuresFor(set []deps.Dep, noBuildkit bool) []feature {
	fs := []feature{&egressFeature{}}
	dind := false
	for _, d := range set {
		if f, ok := dockerModes[d.Mode]; ok && d.Method == deps.MethodDocker {
			fs = append(fs, f())
			dind = dind || d.Mode == deps.DockerDind
		}
	}
	if dind && !noBuildkit {
		fs = append(fs, &buildkitSidecar{})
	}
	return fs
}

// allFeatures is one of every feature, for the phases that work from a
// run's record (salvage, finish): each finds its own part there.
func allFeatures() []feature {
	return []feature{&egressFeature{}, dockerHost{}, dockerDind{}, &buildkitSidecar{}, &agentFeature{}, sshFeature{}}
}

// agentContainer gives the ID of the agent's container to features that
// started alongside its creation, once it exists.
type agentContainer struct {
	once sync.Once
	done chan struct{}
	id   string
}

func newAgentContainer() *agentContainer { return &agentContainer{done: make(chan struct{})} }

// created says that the container exists ("": it never will).
func (a *agentContainer) created(id string) {
	a.once.Do(func() {
		a.id = id
		close(a.done)
	})
}

// wait returns the container's ID once created, or false if it never was.
func (a *agentContainer) wait() (string, bool) {
	<-a.done
	return a.id, a.id != ""
}

// launch is the features' work started alongside the agent's container.
type launch struct {
	agent   *agentContainer
	pending []<-chan error
	// wait waits for all of it, once, and returns the first failure.
	wait func() error
}

// startSidecars starts every feature's sidecars: before the agent's
// container is created, so that they come up alongside it.
func (m *Manager) startSidecars(ctx context.Context, r *state.Run, p *plan, undo *cleanupStack) *launch {
	l := &launch{agent: newAgentContainer()}
	for _, f := range p.features {
		if c := f.startSidecars(ctx, m, r, p, l.agent, undo); c != nil {
			l.pending = append(l.pending, c)
		}
	}
	l.wait = sync.OnceValue(func() error {
		l.agent.created("") // work waiting for an agent that never came ends
		var first error
		for _, c := range l.pending { // every one: each pushes its undo
			if err := <-c; err != nil && first == nil {
				first = err
			}
		}
		return first
	})
	return l
}

// afterStart runs once the agent's container runs: the features' sidecars
// must be ready, then each feature's afterStart runs.
func (m *Manager) afterStart(ctx context.Context, r *state.Run, p *plan, l *launch, undo *cleanupStack) error {
	if err := l.wait(); err != nil {
		return err
	}
	for _, f := range p.features {
		if err := f.afterStart(ctx, m, r, p, undo); err != nil {
			return err
		}
	}
	return nil
}

// finishFeatures removes every feature's sidecars of a finished run.
func (m *Manager) finishFeatures(ctx context.Context, r *state.Run) {
	sc := m.newRunSidecars(ctx, r)
	for _, f := range allFeatures() {
		f.finish(ctx, m, r, sc)
	}
}

// salvageFeatures keeps what each feature needs from the agent's container
// of a finished run, before it goes.
func (m *Manager) salvageFeatures(ctx context.Context, r *state.Run) {
	for _, f := range allFeatures() {
		f.salvage(ctx, m, r)
	}
}
