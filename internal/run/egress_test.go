package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/agent"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/run/runtest"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/sshgrant"
)

const testSecret = "ghp_THE-REAL-SECRET-0123456789"

// fakeGrants holds grants in memory.
type fakeGrants map[string]grant.Grant

func (f fakeGrants) Get(name string) (grant.Grant, grant.Secret, error) {
	g, ok := f[name]
	if !ok {
		return grant.Grant{}, grant.Secret{}, &grant.NotFoundError{Name: name}
	}
	return g, grant.NewSecret([]byte(testSecret + "-" + name)), nil
}

func withGrants(m *Manager) {
	m.Grants = fakeGrants{
		"github":      {Name: "github", Kind: grant.GitHub},
		"my-api":      {Name: "my-api", Kind: grant.HTTP, Hosts: []string{"api.test"}, Header: "X-Api-Key"},
		"also-github": {Name: "also-github", Kind: grant.HTTP, Hosts: []string{"*.github.com"}, Header: "X-Token"},
		"deploy-ssh": {Name: "deploy-ssh", Kind: grant.SSH, Hosts: []string{"github.com"}, SSH: &grant.SSHKey{
			Source: grant.SSHFromAgent, PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
			Hosts: []grant.SSHHost{{Name: "github.com", Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}}}}},
		"file-ssh":       fileSSHGrant("file-ssh"),
		"file-ssh-again": fileSSHGrant("file-ssh-again"),
	}
}

// proxySpec returns the ID and spec of the fake engine's proxy sidecar.
func proxySpec(t *testing.T, eng *runtest.Engine) (string, runtime.ContainerSpec, bool) {
	t.Helper()
	for id, c := range eng.Containers {
		if c.Spec.Labels["moat.role"] == "proxy" {
			return id, c.Spec, true
		}
	}
	return "", runtime.ContainerSpec{}, false
}

func TestSecretsReachOnlyTheProxyStdin(t *testing.T) {
	m, eng := newTestManager(t)
	withGrants(m)
	ws := writeWorkspace(t, "grants: [github]\n")
	res, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"sleep"}, Grants: []string{"my-api", "github"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Run.Grants; !slices.Equal(got, []string{"github", "my-api"}) || res.Run.Policy != "strict" {
		t.Fatalf("run grants %v policy %q, want [github my-api] strict (agent.yaml first, no duplicates)", got, res.Run.Policy)
	}
	agent := agentSpec(t, eng)
	if agent.Network != runtime.NetworkNone || agent.Join != nil || !slices.Contains(agent.ExtraHosts, "proxy:127.0.0.1") {
		t.Fatalf("agent network %v hosts %v, want none with proxy on loopback", agent.Network, agent.ExtraHosts)
	}
	id, proxy, ok := proxySpec(t, eng)
	if !ok {
		t.Fatal("no proxy sidecar")
	}
	if proxy.Network != runtime.NetworkOutbound || proxy.ServesPort != proxyPort || !slices.Contains(proxy.CapDrop, "ALL") || !proxy.ReadOnlyRootfs || !proxy.NoNewPrivileges || proxy.User == "" {
		t.Fatalf("proxy spec %+v: want the outbound network serving the agent's proxy port, no capabilities, read-only, no-new-privileges, a user", proxy)
	}
	for _, c := range eng.Containers {
		spec, _ := json.Marshal(c.Spec)
		if bytes.Contains(spec, []byte(testSecret)) {
			t.Fatalf("container %s's spec (env, command, labels) holds a secret", c.Spec.Name)
		}
	}
	if !hasEnv(agent.Env, "GITHUB_TOKEN") || slices.ContainsFunc(agent.Env, func(e string) bool { return strings.Contains(e, testSecret) }) {
		t.Fatalf("agent env %v: want a placeholder GITHUB_TOKEN and no secret", agent.Env)
	}
	cfg, err := egress.ReadConfig(bytes.NewReader(eng.Stdin[id]))
	if err != nil {
		t.Fatalf("proxy stdin: %v", err)
	}
	if len(cfg.Grants) != 2 || string(cfg.Grants[1].Secret) != testSecret+"-my-api" || cfg.Policy.Mode != "strict" {
		t.Fatalf("proxy config grants %d, policy %q: want both secrets, strict", len(cfg.Grants), cfg.Policy.Mode)
	}
	token := strings.TrimPrefix(envValue(agent.Env, "HTTP_PROXY"), "http://moat:")
	if !strings.HasPrefix(token, cfg.Token+"@127.0.0.1:3128") {
		t.Fatalf("agent HTTP_PROXY %q does not carry the proxy's token", envValue(agent.Env, "HTTP_PROXY"))
	}
	if err := m.Stop(context.Background(), res.Run); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := proxySpec(t, eng); ok {
		t.Fatal("the proxy sidecar is still there after stop")
	}
}

func envValue(env []string, key string) string {
	for _, e := range env {
		if k, v, _ := strings.Cut(e, "="); k == key {
			return v
		}
	}
	return ""
}

func TestPolicyNoneHasNoNetworkAndNoProxy(t *testing.T) {
	m, eng := newTestManager(t)
	ws := writeWorkspace(t, "network: {policy: none}\n")
	if _, err := m.Run(context.Background(), Options{Workspace: ws, Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := proxySpec(t, eng); ok {
		t.Fatal("policy none started a proxy")
	}
}

func TestGrantErrorsComeBeforeAnyBuild(t *testing.T) {
	cases := []struct {
		name, yaml string
		grants     []string
		check      func(error) bool
	}{
		{"unknown grant", "", []string{"nope"}, func(err error) bool { var e *grant.NotFoundError; return errors.As(err, &e) }},
		{"grants on one host", "grants: [github]\n", []string{"also-github"}, func(err error) bool {
			var e *GrantOverlapError
			return errors.As(err, &e) && e.First == "github" && e.Second == "also-github" && e.Host == "api.github.com"
		}},
		{"mcp grant that misses its server", "mcp: [{name: docs, url: \"https://docs.test/mcp\", grant: my-api}]\n", nil, func(err error) bool {
			var e *config.Error
			return errors.As(err, &e) && e.Line == 1 && strings.Contains(e.Msg, "grant my-api does not cover docs.test")
		}},
		{"ssh grant whose agent is not there", "grants: [github, deploy-ssh]\n", nil, func(err error) bool {
			var e *sshgrant.AgentError
			return errors.As(err, &e) && strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set")
		}},
		{"two ssh grants of one key", "grants: [file-ssh]\n", []string{"file-ssh-again"}, func(err error) bool {
			var e *SSHSameKeyError
			return errors.As(err, &e) && e.First == "file-ssh" && e.Second == "file-ssh-again"
		}},
		{"none with grants", "network: {policy: none}\n", []string{"github"}, func(err error) bool { var e *NoNetworkGrantsError; return errors.As(err, &e) }},
		{"docker:host strict", "dependencies: [docker:host]\n", nil, func(err error) bool { var e *HostEgressError; return errors.As(err, &e) }},
		{"docker:host grants", "dependencies: [docker:host]\nnetwork: {policy: permissive}\n", []string{"github"}, func(err error) bool { var e *HostEgressError; return errors.As(err, &e) }},
		{"missing network.ca", "network: {ca: nothere.pem}\n", nil, func(err error) bool { var e *CAFileError; return errors.As(err, &e) }},
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, eng := newTestManager(t)
			withGrants(m)
			_, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, c.yaml), Command: []string{"true"}, Grants: c.grants})
			if err == nil || !c.check(err) {
				t.Fatalf("got %v", err)
			}
			if h, ok := err.(interface{ Hint() string }); ok && h.Hint() == "" {
				t.Fatalf("%v: empty hint", err)
			}
			if eng.Builds != 0 || len(eng.Containers) != 0 {
				t.Fatalf("refused late: %d builds, %d containers", eng.Builds, len(eng.Containers))
			}
		})
	}
}

func TestDockerHostAcceptedWhenAcknowledged(t *testing.T) {
	m, _ := newTestManager(t)
	withGrants(m)
	ws := writeWorkspace(t, "dependencies: [docker:host]\ndocker: {host_bypasses_egress: true}\n")
	_, err := m.Run(context.Background(), Options{Workspace: ws, Command: []string{"true"}, Grants: []string{"github"}})
	var unsupported *runtime.UnsupportedError // the fake engine has no socket: past the egress check
	if !errors.As(err, &unsupported) {
		t.Fatalf("got %v, want the engine's refusal, not the egress one", err)
	}
}

func TestProxyThatNeverListensLeavesNothing(t *testing.T) {
	m, eng := newTestManager(t)
	eng.ProxyOutput = "moat proxy: cannot listen: boom\n"
	_, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Command: []string{"true"}})
	var pe *ProxyError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want a ProxyError with the proxy's output", err)
	}
	if runs, _ := m.Store.List(); len(runs) != 0 || len(eng.Containers) != 0 {
		t.Fatalf("left %d records and %d containers", len(runs), len(eng.Containers))
	}
}

func TestUserProxyVariablesAreReplaced(t *testing.T) {
	m, eng := newTestManager(t)
	var warned []string
	m.Warnf = func(f string, a ...any) {
		if strings.Contains(f, "proxy") {
			warned = append(warned, fmt.Sprintf(f, a...))
		}
	}
	ws := writeWorkspace(t, "env: {HTTPS_PROXY: 'http://elsewhere:1', SSL_CERT_FILE: /mine.pem}\n")
	if _, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	env := agentEnviron(t, agentSpec(t, eng))
	if v := envValue(env, "HTTPS_PROXY"); !strings.Contains(v, "@127.0.0.1:3128") {
		t.Fatalf("HTTPS_PROXY %q, want moat's", v)
	}
	if v := envValue(env, "SSL_CERT_FILE"); v != "/mine.pem" {
		t.Fatalf("SSL_CERT_FILE %q, want the user's", v)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "ignored") {
		t.Fatalf("warnings %q, want one about the ignored proxy variable", warned)
	}
}

// TestMCPRunEnvNamesTheProxyVariables keeps internal/agent's list of the
// variables a local MCP server needs to reach the proxy in step with
// what a run sets: a variable added here and missed there would leave
// Codex's and Gemini CLI's MCP servers without the network.
func TestMCPRunEnvNamesTheProxyVariables(t *testing.T) {
	t.Parallel()
	for _, kv := range proxyEnv("token", "/moat", &egressPlan{}) {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "MOAT_") {
			continue // moat-init's, not the agent's tools'
		}
		if !slices.Contains(agent.MCPRunEnv, name) {
			t.Errorf("a run sets %s, which agent.MCPRunEnv does not name", name)
		}
	}
}
