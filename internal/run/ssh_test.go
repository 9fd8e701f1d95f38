package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/grant"
)

// testSSHKey is the public key of the fake ssh grants.
const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

// fileSSHGrant is an ssh grant whose key was read from a file, for
// github.com and a server on port 2222.
func fileSSHGrant(name string) grant.Grant {
	return grant.Grant{Name: name, Kind: grant.SSH, Hosts: []string{"github.com", "git.test:2222"}, SSH: &grant.SSHKey{
		Source: grant.SSHFromFile, PublicKey: testSSHKey, Fingerprint: "SHA256:test",
		Hosts: []grant.SSHHost{
			{Name: "github.com", Keys: []string{"ssh-ed25519 AAAAgithub"}},
			{Name: "git.test:2222", Keys: []string{"ssh-ed25519 AAAAgittest", "ecdsa-sha2-nistp256 AAAAgittest2"}},
		}}}
}

// TestSSHGrantShapesTheRun: a run with an ssh grant gives the key to the
// proxy alone (on its stdin), and the agent's container an agent socket,
// ssh's configuration through the proxy and the grant's host keys.
func TestSSHGrantShapesTheRun(t *testing.T) {
	m, eng := newTestManager(t)
	withGrants(m)
	ws := writeWorkspace(t, "grants: [file-ssh]\n")
	res, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Run.Grants, []string{"file-ssh"}) {
		t.Errorf("run grants %v, want [file-ssh]", res.Run.Grants)
	}
	agent := agentSpec(t, eng)
	for k, want := range map[string]string{"SSH_AUTH_SOCK": agentSSHSocket, "MOAT_SSH_AGENT": agentSSHSocket, "MOAT_SSH_FILES": sshFilesTarget} {
		if got := envValue(agent.Env, k); got != want {
			t.Errorf("agent env %s=%q, want %q", k, got, want)
		}
	}
	files := map[string]string{}
	for _, f := range agent.MoatFiles {
		if strings.HasPrefix(f.Target, sshFilesTarget+"/") {
			data, err := os.ReadFile(f.Source)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(f.Target, sshFilesTarget+"/")] = string(data)
		}
	}
	wantHosts := "github.com ssh-ed25519 AAAAgithub\n[git.test]:2222 ssh-ed25519 AAAAgittest\n[git.test]:2222 ecdsa-sha2-nistp256 AAAAgittest2\n"
	if files[knownHostsName] != wantHosts {
		t.Errorf("known_hosts:\n%s\nwant:\n%s", files[knownHostsName], wantHosts)
	}
	for _, want := range []string{"ProxyCommand " + agentRelayPath + " proxy connect %h %p", "StrictHostKeyChecking yes", "GlobalKnownHostsFile /etc/ssh/ssh_known_hosts"} {
		if !strings.Contains(files[sshConfigName], want) {
			t.Errorf("ssh config lacks %q:\n%s", want, files[sshConfigName])
		}
	}
	id, proxy, ok := proxySpec(t, eng)
	if !ok {
		t.Fatal("no proxy sidecar")
	}
	if len(proxy.Mounts) != 0 {
		t.Errorf("proxy mounts %v: a key from a file needs no ssh-agent", proxy.Mounts)
	}
	cfg, err := egress.ReadConfig(bytes.NewReader(eng.Stdin[id]))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.SSH) != 1 || cfg.SSH[0].Grant.Name != "file-ssh" || string(cfg.SSH[0].Key) != testSecret+"-file-ssh" || cfg.SSHAgent != "" || len(cfg.Grants) != 0 {
		t.Errorf("proxy config: ssh %+v, agent %q, %d other grants; want the file-ssh grant with its key", cfg.SSH, cfg.SSHAgent, len(cfg.Grants))
	}
	for _, c := range eng.Containers {
		if c.Spec.Labels["moat.role"] == "proxy" {
			continue
		}
		for _, e := range c.Spec.Env {
			if strings.Contains(e, testSecret) {
				t.Errorf("container %s's env holds the key: %s", c.Spec.Name, e)
			}
		}
	}
}

// TestEngineRefusesSSHGrantsUpFront: an engine that cannot carry ssh
// grants (a cluster) refuses a run with one before anything is built.
func TestEngineRefusesSSHGrantsUpFront(t *testing.T) {
	m, eng := newTestManager(t)
	withGrants(m)
	why := errors.New("the cluster's own reason against ssh grants")
	m.Engine = refusingEngine{Engine: eng, refused: map[string]error{"ssh grants": why}}
	_, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, "grants: [file-ssh]\n"), Command: []string{"true"}})
	if !errors.Is(err, why) {
		t.Fatalf("got %v, want the engine's refusal", err)
	}
	if eng.Builds != 0 || len(eng.Containers) != 0 {
		t.Fatalf("refused late: %d builds, %d containers", eng.Builds, len(eng.Containers))
	}
	// The same run without the ssh grant is not refused.
	if _, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Detach: true, Command: []string{"true"}}); err != nil {
		t.Fatalf("a run without ssh grants: %v", err)
	}
}
