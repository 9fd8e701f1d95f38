package run

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/proxy"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// GrantSource looks grants up by name, with their secrets.
type GrantSource interface {
	Get(name string) (grant.Grant, grant.Secret, error)
}

// Where the proxy sidecar finds what the orchestrator mounts into it, and
// where the agent finds the CA it must trust, the proxy's socket and the
// relay that carries its proxy connections there.
const (
	proxyBinaryTarget = "/moat"
	proxyDirTarget    = "/moat-proxy" // the run's proxy directory, and nothing else of the run
	agentSeenFile     = "agent.seen"  // in the proxy's directory, once it has the agent's port
	socketSubdir      = "sock"        // in the proxy's directory: the only thing both containers share
	socketName        = "proxy.sock"
	proxyPort         = 3128
	// proxyHost is where the relay listens in the agent's network
	// namespace: an address rather than a name, so that processes with
	// their own /etc/hosts in that namespace (BuildKit's RUN steps) reach
	// it too; "proxy" also names it in the agent's /etc/hosts.
	proxyHost      = "127.0.0.1"
	proxyName      = "proxy"
	agentCAPath    = "/run/moat/proxy-ca.pem"
	agentSocketDir = "/run/moat/sock"
	agentRelayPath = "/run/moat/bin/moat"
	systemBundle   = "/etc/ssl/certs/ca-certificates.crt"
	proxyUser      = "moat" // user name in the proxy URL; only the token counts
	proxyLogFile   = "proxy.log"
)

// egressPlan is a run's network policy and grants, resolved before any
// engine object exists. The secrets live only in memory.
type egressPlan struct {
	network config.Network // agent.yaml's network section, as config parsed it
	grants  []egress.GrantSecret
	ssh     sshPlan // the ssh grants (ssh.go), which the proxy's SSH agent uses
	// proxy and relay, once egress is shaped: the proxy sidecar to start
	// and moat's binary in the agent's container (the relay's).
	proxy         *proxyStart
	relay         string
	upstreamRoots []byte
	token         string // the run's proxy token, once made
	binary        string // the static moat binary the proxy runs
	// loginPlaceholders are the fake tokens of the agent's login files
	// (the agent feature adds them as it writes the files); with the
	// grants' own, the proxy refuses any request that carries one.
	loginPlaceholders []egress.Placeholder
}

// placeholders are every fake credential the run's agent holds: each
// grant's placeholder variables and the login files' tokens.
func (e *egressPlan) placeholders() []egress.Placeholder {
	var out []egress.Placeholder
	for _, g := range e.grants {
		env := g.Grant.Placeholder()
		for _, k := range slices.Sorted(maps.Keys(env)) {
			out = append(out, egress.Placeholder{Value: env[k], What: fmt.Sprintf("%s (grant %q)", k, g.Grant.Name)})
		}
	}
	return append(out, e.loginPlaceholders...)
}

// mode is the run's network policy: agent.yaml's, or strict.
func (e *egressPlan) mode() policy.Mode { return e.network.Mode() }

func (e *egressPlan) grantNames() []string {
	names := make([]string, 0, len(e.grants)+len(e.ssh.grants))
	for _, g := range e.grants {
		names = append(names, g.Grant.Name)
	}
	for _, g := range e.ssh.grants {
		names = append(names, g.Grant.Name)
	}
	return names
}

// NoNetworkGrantsError reports grants asked for by a run without network.
type NoNetworkGrantsError struct {
	File   string
	Grants []string
}

func (e *NoNetworkGrantsError) Error() string {
	return fmt.Sprintf("%s: network.policy none gives the run no network, so grants %v cannot be used", e.File, e.Grants)
}

func (e *NoNetworkGrantsError) Hint() string {
	return "Use network.policy strict (the default) or remove the grants."
}

// GrantOverlapError reports two grants of a run that both put a
// credential on the same host: the run would have to pick one silently
// (an API key over a subscription login, say), so it refuses both.
type GrantOverlapError struct {
	File          string
	First, Second string
	Host          string
}

func (e *GrantOverlapError) Error() string {
	return fmt.Sprintf("%s: grants %s and %s both send a credential to %s; a run uses one credential per host",
		e.File, e.First, e.Second, e.Host)
}

func (e *GrantOverlapError) Hint() string {
	return fmt.Sprintf("Choose one for this run: keep only --grant %s or --grant %s (and in agent.yaml's grants, only one of them).",
		e.First, e.Second)
}

// checkMCPGrants checks that each remote mcp server's grant covers the
// server's host: otherwise the credential would never reach it.
func checkMCPGrants(cfg *config.Config, grants []egress.GrantSecret) error {
	for _, s := range cfg.MCP {
		if s.Grant == "" {
			continue
		}
		for _, g := range grants {
			if g.Grant.Name == s.Grant && !g.Grant.Covers(s.Host()) {
				return &config.Error{File: cfg.Path, Line: s.Line, Col: s.Col,
					Msg: fmt.Sprintf("mcp %s: grant %s does not cover %s, so its credential would never reach the server", s.Name, s.Grant, s.Host()),
					Remedy: fmt.Sprintf("Name a grant whose hosts include %s ('moat grant list' shows them), or store one: moat grant http NAME --host %[1]s --header Authorization.",
						s.Host())}
			}
		}
	}
	return nil
}

// resolveEgress loads the grants (agent.yaml's and --grant) and the
// upstream roots for the policy config parsed. It fails early, before
// anything is built.
func resolveEgress(m *Manager, opts Options, p *plan) error {
	e := &egressPlan{network: p.cfg.Network}
	names := slices.Clone(p.cfg.Grants)
	for _, n := range opts.Grants {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if e.mode() == policy.None && len(names) > 0 {
		return &NoNetworkGrantsError{File: configName(p), Grants: names}
	}
	for _, n := range names {
		g, secret, err := m.getGrant(n)
		if err != nil {
			return err
		}
		if g.Kind == grant.SSH {
			if err := e.ssh.addSSHGrant(g, secret); err != nil {
				return err
			}
			continue
		}
		gs := egress.GrantSecret{Grant: g, Secret: secret.Reveal()}
		for _, other := range e.grants {
			if host, ok := other.Grant.Overlap(gs.Grant); ok {
				return &GrantOverlapError{File: configName(p), First: other.Grant.Name, Second: n, Host: host}
			}
		}
		e.grants = append(e.grants, gs)
	}
	if err := checkMCPGrants(p.cfg, e.grants); err != nil {
		return err
	}
	p.egress = e
	if e.mode() == policy.None {
		return nil
	}
	if len(e.ssh.grants) > 0 {
		p.features = append(p.features, sshFeature{})
	}
	var err error
	if e.binary, err = m.proxyBinary(); err != nil {
		return err
	}
	if e.upstreamRoots, err = upstreamRoots(p); err != nil {
		return err
	}
	return m.renewLogins(p, e)
}

func configName(p *plan) string {
	if p.cfg.Path != "" {
		return p.cfg.Path
	}
	return "agent.yaml"
}

// getGrant looks a grant of the run up, with its secret.
func (m *Manager) getGrant(name string) (grant.Grant, grant.Secret, error) {
	if m.Grants == nil {
		return grant.Grant{}, grant.Secret{}, &grant.NotFoundError{Name: name}
	}
	return m.Grants.Get(name)
}

// ProxyBinaryError reports that moat cannot find a binary to run its proxy
// sidecar with.
type ProxyBinaryError struct {
	Path string
	Err  error
}

func (e *ProxyBinaryError) Error() string {
	return fmt.Sprintf("the proxy sidecar runs moat's in-container commands from %s, which cannot be used: %v", e.Path, e.Err)
}

func (e *ProxyBinaryError) Hint() string { return image.StaticBuildHint }

func (m *Manager) proxyBinary() (string, error) {
	path := m.ProxyBinary
	if path == "" {
		return "", &ProxyBinaryError{Path: "(none)", Err: errors.New("no binary configured")}
	}
	if err := checkStaticLinux(path); err != nil {
		return "", &ProxyBinaryError{Path: path, Err: err}
	}
	return path, nil
}

// hostRootFiles are where Linux distributions and macOS keep the system's
// trusted roots, as one PEM bundle.
var hostRootFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// upstreamRoots returns the roots the proxy trusts upstream besides its
// image's own: the host's system bundle (SSL_CERT_FILE first), which
// carries any enterprise roots the user installed, and network.ca.
func upstreamRoots(p *plan) ([]byte, error) {
	var roots []byte
	files := hostRootFiles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = append([]string{f}, files...)
	}
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			roots = append(roots, data...)
			break
		}
	}
	if p.networkCA == nil {
		return roots, nil
	}
	return append(append(roots, '\n'), p.networkCA...), nil
}

// resolveNetworkCA reads network.ca, a file in the workspace, once: the
// content approved is the content the proxy trusts.
func resolveNetworkCA(_ *Manager, _ Options, p *plan) error {
	ca := p.cfg.Network.CA
	if ca == "" || p.cfg.Network.Mode() == policy.None {
		return nil
	}
	data, err := readWorkspaceFile(p.workspace, ca)
	if err != nil {
		return &CAFileError{File: configName(p), CA: ca, Err: err}
	}
	p.networkCA = data
	return nil
}

// CAFileError reports a network.ca file that cannot be read.
type CAFileError struct {
	File, CA string
	Err      error
}

func (e *CAFileError) Error() string {
	return fmt.Sprintf("%s: network.ca %s: %v", e.File, printable(e.CA), e.Err)
}
func (e *CAFileError) Unwrap() error { return e.Err }
func (e *CAFileError) Hint() string {
	return "Give the path, relative to the workspace, of a PEM file of CA certificates inside it, or remove network.ca."
}

// The variables egress sets for moat-init.
var (
	envProxyCA     = initVar{name: "MOAT_PROXY_CA", meaning: "the proxy's CA in the container: moat-init adds it to the system bundle"}
	envProxyPort   = initVar{name: "MOAT_PROXY_PORT", meaning: "the loopback port the relay opens for the agent's proxy connections"}
	envProxySocket = initVar{name: "MOAT_PROXY_SOCKET", meaning: "the proxy sidecar's unix socket, in the shared directory: the relay hands the port over it"}
	envRelay       = initVar{name: "MOAT_RELAY", meaning: "moat's in-container commands (moat-sidecar, or moat), which run the relay"}
	envAttest      = initVar{name: egress.AttestEnv, meaning: "what the relay attests the proxy against (token, nonce, deny target, grant proofs): moat-init passes it to the relay alone and unsets it"}
)

// proxyEnv is what the agent gets to use the proxy and trust its CA.
func proxyEnv(token, relay string, e *egressPlan) []string {
	url := fmt.Sprintf("http://%s:%s@%s:%d", proxyUser, token, proxyHost, proxyPort)
	env := []string{
		"HTTP_PROXY=" + url, "HTTPS_PROXY=" + url, "http_proxy=" + url, "https_proxy=" + url,
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
		envProxyCA.is(agentCAPath), envProxyPort.is(strconv.Itoa(proxyPort)),
		envProxySocket.is(agentSocketDir + "/" + socketName), envRelay.is(relay),
		"SSL_CERT_FILE=" + systemBundle, "REQUESTS_CA_BUNDLE=" + systemBundle,
		"CURL_CA_BUNDLE=" + systemBundle, "GIT_SSL_CAINFO=" + systemBundle,
		"NODE_EXTRA_CA_CERTS=" + agentCAPath, "NODE_USE_ENV_PROXY=1",
	}
	for _, g := range e.grants {
		for k, v := range g.Grant.Placeholder() {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// hasEnv reports whether env sets name.
func hasEnv(env []string, name string) bool {
	return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// setupEgress gives the agent no network at all, only loopback, where a
// relay carries its proxy connections to the run's proxy sidecar through a
// unix socket in a directory they share; with policy none the agent gets
// no proxy either. It describes the proxy, which startSidecars creates and
// starts while the agent's container is created and started.
func (m *Manager) setupEgress(r *state.Run, p *plan, baseID string, spec *runtime.ContainerSpec) (*proxyStart, error) {
	e := p.egress
	spec.Network = runtime.NetworkNone
	if e.mode() == policy.None {
		return nil, nil
	}
	bin := e.binary
	ca, err := proxy.LoadOrCreateCA(m.caDir(), nil)
	if err != nil {
		return nil, err
	}
	sockDir := m.Store.Path(r.ID, state.ProxyDir+"/"+socketSubdir)
	if err := os.MkdirAll(sockDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the proxy's socket directory: %w", err)
	}
	os.Chmod(sockDir, 0o755) // the agent may run under another UID
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	e.token = token
	cfg, err := m.proxyConfig(r, e, ca, token)
	if err != nil {
		return nil, err
	}
	attestation, err := egress.PlanAttestation(cfg)
	if err != nil {
		return nil, err
	}
	ps := &proxyStart{spec: m.proxySpec(r, bin), cfg: cfg}
	ps.spec.Image = baseID // the base image Ensure checked
	r.Sidecars = append(r.Sidecars, state.Sidecar{Role: labels.RoleProxy, Name: ps.spec.Name, Limits: stateLimits(proxyLimits)})
	spec.ExtraHosts = append(spec.ExtraHosts, proxyName+":127.0.0.1")
	spec.MoatFiles = append(spec.MoatFiles, runtime.MoatFile{Source: filepath.Join(m.caDir(), "ca.pem"), Target: agentCAPath})
	spec.SharedDirs = append(spec.SharedDirs, runtime.SharedDir{Source: sockDir, Target: agentSocketDir, ReadOnly: true})
	relay := agentRelayPath
	if usesDind(p.deps) {
		// A run with a daemon in it gets no file of the host's moat: its
		// image holds a copy of the binary (image.MoatPath).
		relay = image.MoatPath
	} else {
		spec.MoatFiles = append(spec.MoatFiles, runtime.MoatFile{Source: bin, Target: agentRelayPath})
	}
	e.proxy, e.relay = ps, relay
	spec.Env = append(spec.Env, proxyEnv(token, relay, e)...)
	spec.Env = append(spec.Env, envAttest.is(attestation.Encode()))
	p.env = m.withoutProxyVars(p.env)
	return ps, nil
}

// proxyVars are the variables that route the agent's traffic: moat's own
// values win over agent.yaml's and -e, which could only break egress.
var proxyVars = []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"}

// withoutProxyVars drops the proxy variables from the agent's own env
// (with a warning), so that moat's, in the container's env, apply. The
// agent's values of moat's other variables (CA paths, grant placeholders)
// stay: applied after the container's env, they win for the agent.
func (m *Manager) withoutProxyVars(env []string) []string {
	return slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(proxyVars, k) {
			return false
		}
		m.warnf("%s is set by moat to route the run through its proxy; the value given is ignored", k)
		return true
	})
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the proxy token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (m *Manager) caDir() string {
	if m.CADir != "" {
		return m.CADir
	}
	return filepath.Join(m.Store.Root, "proxy")
}

// proxyConfig is what the proxy gets on its stdin: besides the policy
// and grants, a CA of the run's own that the user's CA certifies for a
// day, and a signing key of the run's own that the user's key certifies in
// the audit log. The user's keys never reach the proxy.
func (m *Manager) proxyConfig(r *state.Run, e *egressPlan, ca *proxy.CA, token string) (*egress.Config, error) {
	certPEM, keyPEM, err := ca.NewRunCA(r.ID, m.now(), proxy.RunCAValidity)
	if err != nil {
		return nil, err
	}
	cfg := &egress.Config{
		Token: token, Socket: proxyDirTarget + "/" + socketSubdir + "/" + socketName,
		Log:           proxyDirTarget + "/" + proxyLogFile,
		AgentSeen:     proxyDirTarget + "/" + agentSeenFile,
		Policy:        egress.PolicyFor(e.network),
		Grants:        e.grants,
		Placeholders:  e.placeholders(),
		CA:            egress.RunCA{Cert: certPEM, Key: keyPEM},
		UpstreamRoots: e.upstreamRoots,
		Ports:         publishedPorts(r.Ports),
	}
	if m.SigningKey == nil {
		return cfg, nil
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making the run's audit key: %w", err)
	}
	if err := m.certifyRunKey(r, pub); err != nil {
		m.warnf("audit log of run %s: the proxy will not record requests: %v", r.ID, err)
		return cfg, nil
	}
	cfg.Audit = &egress.Audit{Path: proxyDirTarget + "/" + path.Base(AuditFile), RunID: r.ID, Key: key}
	return cfg, nil
}
