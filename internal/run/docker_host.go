package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// socketEngine is an engine whose unix socket a run can mount.
type socketEngine interface {
	SocketPath() (string, error)
}

// containerSocket is where the host engine's socket appears in a
// docker:host run; the docker CLI looks there by default.
const containerSocket = "/var/run/docker.sock"

// dockerHost gives the agent the host's Docker engine through its socket.
// The agent then controls the host engine completely; moat says so at run
// start and records it on the run.
type dockerHost struct{ phases }

// The variables docker:host sets.
var (
	envDockerSocket  = initVar{name: "MOAT_DOCKER_SOCKET", meaning: "the host engine's socket in the container: moat-init adds the agent to its group"}
	envHostWorkspace = initVar{name: "MOAT_HOST_WORKSPACE", meaning: "the workspace's path on the host, for bind mounts the agent asks the host engine for", forAgent: true}
)

func (dockerHost) initContract() initContract {
	return initContract{steps: []string{"setup_docker_host"}, env: []initVar{envDockerSocket, envHostWorkspace}}
}

func (dockerHost) check(ctx context.Context, m *Manager, p *plan) error {
	// An engine that cannot give it at all says so first: the advice
	// below (docker:dind, or accepting the risk) may not apply there.
	if err := refusal(ctx, m, "docker:host"); err != nil {
		return err
	}
	if e := p.egress; (e.mode() != policy.Permissive || len(e.grants) > 0) && !p.cfg.Docker.HostBypassesEgress {
		return &HostEgressError{File: configName(p), Policy: string(e.mode()), Grants: e.grantNames()}
	}
	path, err := hostSocket(m)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("docker:host: the engine's socket %s is not a socket on this machine", path)
	}
	return nil
}

// HostEgressError refuses docker:host where the run restricts the network
// or holds credentials: through the host's engine the agent can start a
// container on the host's network, or read the proxy sidecar's memory.
type HostEgressError struct {
	File, Policy string
	Grants       []string
}

func (e *HostEgressError) Error() string {
	what := "network.policy " + e.Policy
	if len(e.Grants) > 0 {
		what += " and grants " + strings.Join(e.Grants, ", ")
	}
	return fmt.Sprintf("%s: docker:host gives the agent the host's Docker engine, which can bypass %s", e.File, what)
}

func (e *HostEgressError) Hint() string {
	return "Use docker:dind (the agent's own daemon stays behind the proxy), or, to accept the risk,\n" +
		"set docker: {host_bypasses_egress: true} in agent.yaml (or network.policy: permissive without grants)."
}

func hostSocket(m *Manager) (string, error) {
	se, ok := m.Engine.(socketEngine)
	if !ok {
		return "", &runtime.UnsupportedError{
			Feature: "docker:host", Engine: "this container runtime",
			Reason: "it has no Docker socket to share",
			Remedy: "Use docker:dind for a private Docker daemon inside the run, or run moat against a Docker engine.",
		}
	}
	return se.SocketPath()
}

// shape gives the agent the engine's own socket (the engine knows where it
// is) and its host paths.
func (dockerHost) shape(_ context.Context, m *Manager, r *state.Run, p *plan, _ image.Result, spec *runtime.ContainerSpec, _ *cleanupStack) error {
	path, err := hostSocket(m)
	if err != nil {
		return err
	}
	spec.EngineSocket = containerSocket
	spec.Env = append(spec.Env, envDockerSocket.is(containerSocket), "DOCKER_HOST=unix://"+containerSocket)
	sharePathWithHost(m, p, spec)
	r.Privileges = append(r.Privileges, state.Privilege{
		What: "host Docker socket " + path, Reason: "docker:host",
		Effect: "full control of the host's Docker engine: it can start privileged containers and read any container's files",
	})
	m.warnf("docker:host gives this run full control of the host's Docker engine (%s): it can start\n"+
		"privileged containers and read any container's files. Use docker:dind to isolate it.", path)
	return nil
}

// sharePathWithHost mounts the workspace a second time at its host path
// and works there, so that paths the agent hands the host engine
// ('docker run -v "$PWD":/src') mean the same directory on the host.
func sharePathWithHost(m *Manager, p *plan, spec *runtime.ContainerSpec) {
	if shadowsSystemPath(p.workspace) {
		m.warnf("the workspace %s would hide system files at the same path in the container; it stays at %s only,\n"+
			"so bind mounts the agent asks the host engine for must use the host path %s.", p.workspace, WorkspaceTarget, p.workspace)
		spec.Env = append(spec.Env, envHostWorkspace.is(p.workspace))
		return
	}
	spec.Mounts = append(spec.Mounts, runtime.Mount{Source: p.workspace, Target: p.workspace})
	spec.WorkingDir = p.workspace
	spec.Env = append(spec.Env, envHostWorkspace.is(p.workspace))
}

// systemDirs are container paths a workspace mount must not cover.
var systemDirs = []string{"/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr", "/var/lib", "/var/run", "/home/moat"}

func shadowsSystemPath(path string) bool {
	clean := filepath.Clean(path)
	if clean == "/" || clean == "/home" || clean == "/var" || clean == "/tmp" || clean == WorkspaceTarget {
		return true
	}
	for _, d := range systemDirs {
		if clean == d || strings.HasPrefix(clean, d+"/") || strings.HasPrefix(d, clean+"/") {
			return true
		}
	}
	return false
}
