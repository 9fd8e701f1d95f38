package run

import (
	"context"

	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// egressFeature is every run's egress: the agent gets no network, and,
// unless the policy is none, a proxy sidecar that serves the agent's proxy
// port and is the run's only way out (egress.go resolves the policy and
// grants before anything is built; proxy.go runs the sidecar).
type egressFeature struct {
	phases
	proxy *proxyStart // the sidecar to start, once shaped; nil with policy none
}

func (*egressFeature) initContract() initContract {
	return initContract{
		steps: []string{"start_relay", "trust_proxy_ca", "wait_relay"},
		env:   []initVar{envProxyCA, envProxyPort, envProxySocket, envRelay, envAttest},
	}
}

func (f *egressFeature) shape(_ context.Context, m *Manager, r *state.Run, p *plan, img image.Result, agent *runtime.ContainerSpec, _ *cleanupStack) error {
	base := img.BaseID
	if p.proxyBaseID != "" {
		base = p.proxyBaseID // agent.yaml's base image is not the proxy's
	}
	ps, err := m.setupEgress(r, p, base, agent)
	f.proxy = ps
	return err
}

// startSidecars creates and starts the proxy while the agent's container
// is created and started; the channel reports once it listens.
func (f *egressFeature) startSidecars(ctx context.Context, m *Manager, r *state.Run, _ *plan, _ *agentContainer, undo *cleanupStack) <-chan error {
	if f.proxy == nil {
		return nil
	}
	ready := make(chan error, 1)
	go func() { ready <- m.launchProxy(ctx, r, f.proxy, undo) }()
	return ready
}

// finish sees the proxy go: it stops by itself once its agent has gone,
// writing its last audit events.
func (*egressFeature) finish(ctx context.Context, m *Manager, r *state.Run, sidecars *runSidecars) {
	m.removeProxy(ctx, r, sidecars)
}
