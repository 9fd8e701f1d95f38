package run

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// defaultPids is a run's pids limit where config.yaml sets none: far above
// what a build or a language server needs (a few hundred), far below what
// a fork bomb would take from the host (its pid_max, often 4 million).
const defaultPids = 4096

// proxyLimits are the proxy sidecar's own limits, whatever the run's: the
// proxy is moat's code, and a hostile agent that floods it must not turn
// it into a way to starve the machine. It runs in a few MiB (the egress
// benchmarks measure 6 to 7 MiB resident under load) and a dozen threads;
// one CPU is more than its throughput ceiling needs on the 2-core
// machines moat is measured on (docs/benchmarks.md).
var proxyLimits = config.Limits{Memory: 256 << 20, NanoCPUs: 1e9, Pids: 256}

// hostResourcer is an engine that can tell what its machine has.
type hostResourcer interface {
	HostResources(ctx context.Context) (runtime.HostResources, error)
}

// resolveLimits sets the agent's limits: agent.yaml's resources, within
// the user's limits (config.yaml) or moat's defaults. CPUs beyond the
// engine's own count are cut to it: the engine refuses more.
func (m *Manager) resolveLimits(ctx context.Context, p *plan) error {
	host, err := m.hostResources(ctx)
	if err != nil {
		return err
	}
	l, err := p.cfg.RunLimits(m.Limits, defaultLimits(host), m.configPath())
	if err != nil {
		return err
	}
	if maxCPUs := int64(host.CPUs) * 1e9; maxCPUs > 0 && l.NanoCPUs > maxCPUs {
		l.NanoCPUs = maxCPUs
	}
	p.limits = l
	return nil
}

// defaultLimits are a run's limits where the user set none: half of the
// engine's memory (rounded down to a MiB), all of its CPUs (the kernel shares CPU time fairly
// between the run's cgroup and the rest of the machine, so a busy agent
// slows it down without starving it), and defaultPids. An engine that
// cannot tell its machine's size gets no memory or CPU default.
func defaultLimits(host runtime.HostResources) config.Limits {
	halfMiB := host.Memory / 2 &^ (1<<20 - 1) // whole MiB, for records that read well
	return config.Limits{Memory: halfMiB, NanoCPUs: int64(host.CPUs) * 1e9, Pids: defaultPids}
}

// hostResources asks the engine what its machine has, at most once an
// hour per engine: the answer (Docker's /info) costs about 9 ms, a few
// percent of a warm run, and a machine's CPUs and memory rarely change.
func (m *Manager) hostResources(ctx context.Context) (runtime.HostResources, error) {
	hr, ok := m.Engine.(hostResourcer)
	if !ok {
		return runtime.HostResources{}, nil
	}
	cache := m.resourcesCache()
	if host, ok := cache.get(m.now()); ok {
		return host, nil
	}
	host, err := hr.HostResources(ctx)
	if err != nil {
		return host, fmt.Errorf("reading the engine's CPUs and memory: %w", err)
	}
	cache.put(host, m.now())
	return host, nil
}

// resourcesTTL is how long an engine's CPUs and memory are taken as read.
const resourcesTTL = time.Hour

// resourcesCache keeps the engine's resources in the moat home, keyed by
// the engine's address.
type resourcesCache struct{ path, engine string }

type cachedResources struct {
	Engine string                `json:"engine"`
	At     time.Time             `json:"at"`
	Host   runtime.HostResources `json:"host"`
}

func (m *Manager) resourcesCache() resourcesCache {
	engine := ""
	if h, ok := m.Engine.(interface{ Host() string }); ok {
		engine = h.Host()
	}
	return resourcesCache{path: filepath.Join(m.Store.Root, "engine.json"), engine: engine}
}

func (c resourcesCache) get(now time.Time) (runtime.HostResources, bool) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return runtime.HostResources{}, false
	}
	var r cachedResources
	if json.Unmarshal(data, &r) != nil || r.Engine != c.engine || now.Sub(r.At) > resourcesTTL || now.Before(r.At) || r.Host.CPUs <= 0 {
		return runtime.HostResources{}, false
	}
	return r.Host, true
}

func (c resourcesCache) put(host runtime.HostResources, now time.Time) {
	data, err := json.Marshal(cachedResources{Engine: c.engine, At: now, Host: host})
	if err == nil && os.MkdirAll(filepath.Dir(c.path), 0o700) == nil {
		fsutil.WriteFileAtomic(c.path, data, 0o600) // a cache: a failed write costs a lookup
	}
}

func (m *Manager) configPath() string {
	if m.ConfigPath != "" {
		return m.ConfigPath
	}
	return "the moat configuration (config.yaml in the moat home)"
}

// applyLimits sets l on a container spec.
func applyLimits(spec *runtime.ContainerSpec, l config.Limits) {
	spec.Memory, spec.NanoCPUs, spec.PidsLimit = l.Memory, l.NanoCPUs, l.Pids
}

// stateLimits is l as a run record keeps it; nil when nothing is limited.
func stateLimits(l config.Limits) *state.Limits {
	if l == (config.Limits{}) {
		return nil
	}
	return &state.Limits{Memory: l.Memory, CPUs: float64(l.NanoCPUs) / 1e9, Pids: l.Pids}
}

// limitsEvent describes l for the audit log, with config.yaml's units:
// "memory=2g cpus=1.5 pids=4096"; an unset limit is "none".
func limitsEvent(l config.Limits) string {
	mem, cpus, pids := "none", "none", "none"
	if l.Memory > 0 {
		mem = config.FormatSize(l.Memory)
	}
	if l.NanoCPUs > 0 {
		cpus = config.FormatCPUs(l.NanoCPUs)
	}
	if l.Pids > 0 {
		pids = fmt.Sprint(l.Pids)
	}
	return "memory=" + mem + " cpus=" + cpus + " pids=" + pids
}

// recordedLimits describes a run record's limits for the audit log.
func recordedLimits(l *state.Limits) string {
	if l == nil {
		return limitsEvent(config.Limits{})
	}
	return limitsEvent(config.Limits{Memory: l.Memory, NanoCPUs: int64(math.Round(l.CPUs * 1e9)), Pids: l.Pids})
}
