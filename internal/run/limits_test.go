package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/run/runtest"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// sizedEngine is the fake engine on a machine of a given size.
type sizedEngine struct {
	*runtest.Engine
	host runtime.HostResources
}

func (e sizedEngine) HostResources(context.Context) (runtime.HostResources, error) {
	return e.host, nil
}

func TestRunLimits(t *testing.T) {
	host := runtime.HostResources{CPUs: 4, Memory: 16 << 30}
	for _, tc := range []struct {
		name, agentYAML string
		user            config.Limits
		want            config.Limits
		err             string
	}{
		{name: "defaults", want: config.Limits{Memory: 8 << 30, NanoCPUs: 4e9, Pids: 4096}},
		{name: "the user's limits", user: config.Limits{Memory: 2 << 30, NanoCPUs: 1e9, Pids: 512},
			want: config.Limits{Memory: 2 << 30, NanoCPUs: 1e9, Pids: 512}},
		{name: "more CPUs than the engine has", user: config.Limits{NanoCPUs: 16e9},
			want: config.Limits{Memory: 8 << 30, NanoCPUs: 4e9, Pids: 4096}},
		{name: "agent.yaml lowers", agentYAML: "resources: {memory: 1g, pids: 100}\n", user: config.Limits{Pids: 512},
			want: config.Limits{Memory: 1 << 30, NanoCPUs: 4e9, Pids: 100}},
		{name: "agent.yaml asks for more", agentYAML: "resources: {pids: 1000}\n", user: config.Limits{Pids: 512},
			err: "agent.yaml:1:19: resources.pids: 1000 is more than the 512 limits.pids allows in /home/u/.moat/config.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, eng := newTestManager(t)
			m.Engine, m.Limits, m.ConfigPath = sizedEngine{eng, host}, tc.user, "/home/u/.moat/config.yaml"
			ws := writeWorkspace(t, tc.agentYAML)
			res, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"sleep"}})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				if len(eng.Containers) != 0 {
					t.Fatalf("a refused run created %d containers", len(eng.Containers))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			agent := agentSpec(t, eng)
			if got := (config.Limits{Memory: agent.Memory, NanoCPUs: agent.NanoCPUs, Pids: agent.PidsLimit}); got != tc.want {
				t.Errorf("agent's container limits: got %+v, want %+v", got, tc.want)
			}
			want := state.Limits{Memory: tc.want.Memory, CPUs: float64(tc.want.NanoCPUs) / 1e9, Pids: tc.want.Pids}
			if res.Run.Limits == nil || *res.Run.Limits != want {
				t.Errorf("run record limits: got %+v, want %+v", res.Run.Limits, want)
			}
			_, proxy, ok := proxySpec(t, eng)
			if !ok || proxy.Memory != 256<<20 || proxy.NanoCPUs != 1e9 || proxy.PidsLimit != 256 {
				t.Errorf("proxy sidecar limits: got %d bytes, %d nano CPUs, %d pids; want 256 MiB, 1 CPU, 256 pids",
					proxy.Memory, proxy.NanoCPUs, proxy.PidsLimit)
			}
		})
	}
}

func TestLimitsEvent(t *testing.T) {
	for _, tc := range []struct {
		in   config.Limits
		want string
	}{
		{config.Limits{}, "memory=none cpus=none pids=none"},
		{config.Limits{Memory: 3 << 29, NanoCPUs: 1_500_000_000, Pids: 4096}, "memory=1536m cpus=1.5 pids=4096"},
	} {
		if got := limitsEvent(tc.in); got != tc.want {
			t.Errorf("limitsEvent(%+v): got %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := recordedLimits(&state.Limits{Memory: 1 << 30, CPUs: 0.5, Pids: 64}); got != "memory=1g cpus=0.5 pids=64" {
		t.Errorf("recordedLimits: got %q", got)
	}
}

// countingEngine counts how often the engine is asked its size.
type countingEngine struct {
	*runtest.Engine
	asked *int
}

func (e countingEngine) HostResources(context.Context) (runtime.HostResources, error) {
	*e.asked++
	return runtime.HostResources{CPUs: 2, Memory: 4 << 30}, nil
}

// The engine's size is read at most once an hour: /info costs a few
// percent of a warm run.
func TestHostResourcesCached(t *testing.T) {
	m, eng := newTestManager(t)
	asked := 0
	m.Engine = countingEngine{Engine: eng, asked: &asked}
	now := time.Now()
	m.Now = func() time.Time { return now }
	for range 3 {
		if _, err := m.hostResources(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Fatalf("asked the engine %d times in three runs, want once", asked)
	}
	now = now.Add(resourcesTTL + time.Minute)
	if host, _ := m.hostResources(context.Background()); asked != 2 || host.CPUs != 2 {
		t.Fatalf("after the TTL: asked %d times (want 2), got %+v", asked, host)
	}
}
