package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/sshgrant"
	"github.com/moatsh/moat/internal/state"
)

// A run's ssh grants. The keys stay out of the agent's container: the
// proxy sidecar holds them (or reaches the user's ssh-agent, which keeps
// them) and signs only for sessions bound to a granted host whose tunnel
// it carries (internal/egress, sshagent.go). In the agent's container the
// relay serves SSH_AUTH_SOCK by carrying each connection to the proxy,
// and ssh's configuration sends every connection through the proxy with
// the grants' host keys as the only known ones.
const (
	// agentSSHSocket is SSH_AUTH_SOCK in the agent's container; the
	// relay (root's) makes its directory and the socket.
	agentSSHSocket = "/run/moat/ssh/agent.sock"
	// sshFilesTarget is where the agent's container finds the ssh
	// configuration and known_hosts before moat-init installs them.
	sshFilesTarget = "/moat-ssh"
	sshConfigName  = "moat.conf"
	knownHostsName = "known_hosts"
	// proxySSHAgent is the user's ssh-agent socket in the proxy's
	// container, for keys that agent keeps.
	proxySSHAgent = "/moat-ssh-agent.sock"
)

// The variables ssh grants set for moat-init.
var (
	envSSHAgent = initVar{name: "MOAT_SSH_AGENT",
		meaning: "the SSH agent socket the relay serves in the agent's container (SSH_AUTH_SOCK), carrying each connection to the proxy"}
	envSSHFiles = initVar{name: "MOAT_SSH_FILES",
		meaning: "the directory holding the ssh client configuration and known_hosts of the run's ssh grants: moat-init installs them in /etc/ssh, root's, 0644"}
)

// sshPlan is what a run's ssh grants need beyond the grants themselves.
type sshPlan struct {
	grants []egress.SSHGrant
	// agentSocket is the user's ssh-agent (SSH_AUTH_SOCK), when a grant's
	// key is kept there: mounted into the proxy's container alone.
	agentSocket string
}

// addSSHGrant adds an ssh grant to the plan. A key kept by the user's
// ssh-agent must be there now: the run is refused up front otherwise,
// rather than started with a key that cannot sign.
func (s *sshPlan) addSSHGrant(g grant.Grant, secret grant.Secret) error {
	for _, other := range s.grants {
		if other.Grant.SSH.PublicKey == g.SSH.PublicKey {
			return &SSHSameKeyError{First: other.Grant.Name, Second: g.Name, Fingerprint: g.SSH.Fingerprint}
		}
	}
	if g.SSH.Source == grant.SSHFromAgent {
		if err := s.findAgentKey(g); err != nil {
			return err
		}
		s.grants = append(s.grants, egress.SSHGrant{Grant: g})
		return nil
	}
	s.grants = append(s.grants, egress.SSHGrant{Grant: g, Key: secret.Reveal()})
	return nil
}

// findAgentKey checks that the user's ssh-agent holds g's key, and notes
// the agent's socket.
func (s *sshPlan) findAgentKey(g grant.Grant) error {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return &sshgrant.AgentError{Why: fmt.Sprintf("ssh grant %s's key %s is kept there, and SSH_AUTH_SOCK is not set", g.Name, g.SSH.Fingerprint)}
	}
	abs, err := filepath.Abs(sock)
	if err != nil {
		return err
	}
	upstream, closer, err := sshgrant.DialAgent(abs)
	if err != nil {
		return err
	}
	defer closer.Close()
	if _, err := sshgrant.AgentKey(upstream, g.SSH.Fingerprint); err != nil {
		return fmt.Errorf("ssh grant %s: %w", g.Name, err)
	}
	s.agentSocket = abs
	return nil
}

// SSHSameKeyError reports two ssh grants of a run with the same key: the
// agent could not say which grant's hosts a signature is for.
type SSHSameKeyError struct {
	First, Second, Fingerprint string
}

func (e *SSHSameKeyError) Error() string {
	return fmt.Sprintf("ssh grants %s and %s hold the same key %s; a run uses each key through one grant", e.First, e.Second, e.Fingerprint)
}

func (e *SSHSameKeyError) Hint() string {
	return fmt.Sprintf("Use one of them in this run, or store one grant with all the hosts: moat revoke %s, then moat grant ssh %s --host ... for every host.", e.Second, e.First)
}

// sshFeature is a run's ssh grants (a run with at least one, and a
// proxy): it comes after egress, whose proxy it gives the grants.
type sshFeature struct{ phases }

func (sshFeature) initContract() initContract {
	return initContract{steps: []string{"install_ssh_files"}, env: []initVar{envSSHAgent, envSSHFiles}}
}

// check refuses, before anything is built, ssh grants on an engine that
// cannot carry them.
func (sshFeature) check(ctx context.Context, m *Manager, _ *plan) error {
	return refusal(ctx, m, "ssh grants")
}

func (sshFeature) shape(_ context.Context, m *Manager, r *state.Run, p *plan, _ image.Result, agent *runtime.ContainerSpec, _ *cleanupStack) error {
	e := p.egress
	if e == nil || e.proxy == nil {
		return errors.New("ssh grants need the run's proxy, which egress did not set up")
	}
	return m.shapeSSH(r, &e.ssh, e.relay, agent, e.proxy)
}

// shapeSSH gives the agent's container the run's SSH: the agent socket
// the relay serves, the ssh configuration that sends connections through
// the proxy (with relay, moat's binary in the container, as the proxy
// command) and the grants' host keys; and gives the proxy the grants and,
// if a key is kept there, the user's ssh-agent.
func (m *Manager) shapeSSH(r *state.Run, s *sshPlan, relay string, agent *runtime.ContainerSpec, ps *proxyStart) error {
	dir := m.Store.Path(r.ID, "ssh")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the run's ssh directory: %w", err)
	}
	files := map[string][]byte{sshConfigName: sshConfig(relay), knownHostsName: knownHosts(s.grants)}
	for name, data := range files {
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, data, 0o644); err != nil {
			return fmt.Errorf("writing the run's ssh configuration: %w", err)
		}
		agent.MoatFiles = append(agent.MoatFiles, runtime.MoatFile{Source: src, Target: sshFilesTarget + "/" + name})
	}
	agent.Env = append(agent.Env, envSSHAgent.is(agentSSHSocket), envSSHFiles.is(sshFilesTarget), "SSH_AUTH_SOCK="+agentSSHSocket)
	ps.cfg.SSH = s.grants
	if s.agentSocket != "" {
		ps.spec.Mounts = append(ps.spec.Mounts, runtime.Mount{Source: s.agentSocket, Target: proxySSHAgent, ReadOnly: true})
		ps.cfg.SSHAgent = proxySSHAgent
	}
	return nil
}

// sshConfig is the ssh client configuration of a run with ssh grants:
// every connection goes through the run's proxy (the container has no
// other way out), and only the grants' host keys are known, so there is
// no trust on first use.
func sshConfig(relay string) []byte {
	return []byte("# moat: SSH goes through the run's proxy; the known host keys are the run's ssh grants'.\n" +
		"Host *\n" +
		"    ProxyCommand " + relay + " proxy connect %h %p\n" +
		"    GlobalKnownHostsFile /etc/ssh/ssh_known_hosts\n" +
		"    StrictHostKeyChecking yes\n" +
		"    UpdateHostKeys no\n")
}

// knownHosts lists each grant host's pinned keys in known_hosts form:
// "[host]:port" for a host with a port other than 22.
func knownHosts(grants []egress.SSHGrant) []byte {
	var b bytes.Buffer
	for _, g := range grants {
		for _, h := range g.Grant.SSH.Hosts {
			name := h.Name
			if host, port, err := net.SplitHostPort(h.Name); err == nil && port != "22" {
				name = "[" + host + "]:" + port
			} else if err == nil {
				name = host
			}
			for _, k := range h.Keys {
				fmt.Fprintf(&b, "%s %s\n", name, strings.TrimSpace(k))
			}
		}
	}
	return b.Bytes()
}
