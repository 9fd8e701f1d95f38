package egress

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh/agent"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/proxy"
	"github.com/moatsh/moat/internal/sshagent"
	"github.com/moatsh/moat/internal/sshgrant"
	"github.com/moatsh/moat/internal/sshwatch"
)

// SSHAgentPath, under AttestHost, is where the relay in the agent's
// container carries each connection to the run's SSH_AUTH_SOCK: a GET
// with the run's token, which the proxy answers with 200 and then serves
// as an SSH agent (the agent protocol, from the next byte on).
const SSHAgentPath = "/v1/ssh-agent"

// SSHGrant is one ssh grant on the proxy's configuration: its metadata
// (public key, hosts and their pinned host keys) and, for a key read from
// a file, the private key in OpenSSH's format. A key the user's ssh-agent
// keeps has none: the proxy asks that agent (Config.SSHAgent).
type SSHGrant struct {
	Grant grant.Grant `json:"grant"`
	Key   []byte      `json:"key,omitempty"`
}

// sshService is a run's SSH side in the proxy: the agent it serves at
// SSHAgentPath and the registry of the run's SSH tunnels, which tells the
// agent which host key each open tunnel's server presented.
type sshService struct {
	agents   *sshagent.Server
	tunnels  *sshwatch.Registry
	hosts    []sshHost // where tunnels are watched: the grants' hosts
	upstream io.Closer // the connection to the user's ssh-agent, or nil
}

// sshHost is a grant's host as the proxy sees CONNECTs: lower-case name
// and port.
type sshHost struct {
	name string
	port int
}

// newSSHService loads the run's ssh grants into an agent; record, if not
// nil, receives its audit events. logf reports what goes wrong with the
// user's ssh-agent.
func newSSHService(cfg *Config, record func(kind string, data map[string]string)) (*sshService, error) {
	s := &sshService{tunnels: &sshwatch.Registry{}}
	var upstream agent.ExtendedAgent
	for _, g := range cfg.SSH {
		if g.Grant.SSH != nil && g.Grant.SSH.Source == grant.SSHFromAgent && upstream == nil {
			if cfg.SSHAgent == "" {
				return nil, fmt.Errorf("ssh grant %q's key is kept by the user's ssh-agent, and the proxy was given none", g.Grant.Name)
			}
			a, closer, err := sshgrant.DialAgent(cfg.SSHAgent)
			if err != nil {
				return nil, err
			}
			upstream, s.upstream = a, closer
		}
	}
	keys := make([]sshagent.Key, 0, len(cfg.SSH))
	for _, g := range cfg.SSH {
		k, err := sshgrant.Key(g.Grant, grant.NewSecret(g.Key), upstream)
		if err != nil {
			s.close()
			return nil, err
		}
		keys = append(keys, k)
		for _, h := range k.Hosts {
			name, port, err := splitSSHHost(h.Name)
			if err != nil {
				s.close()
				return nil, fmt.Errorf("ssh grant %q: %w", g.Grant.Name, err)
			}
			s.hosts = append(s.hosts, sshHost{name, port})
		}
	}
	agents, err := sshagent.New(sshagent.Config{
		Keys:    keys,
		Confirm: s.tunnels.Confirm,
		Audit: func(e sshagent.Event) {
			if record != nil {
				record(audit.KindSSHSign, s.eventData(e))
			}
		},
	})
	if err != nil {
		s.close()
		return nil, err
	}
	s.agents = agents
	return s, nil
}

// splitSSHHost splits a grant's SSH host ("github.com", "git.example:2222",
// "[::1]:2222") into its lower-case name and port, 22 when none is given.
func splitSSHHost(h string) (string, int, error) {
	name, port := h, 22
	if n, p, err := net.SplitHostPort(h); err == nil {
		v, err := strconv.Atoi(p)
		if err != nil || v <= 0 || v > 65535 {
			return "", 0, fmt.Errorf("host %q has an invalid port", h)
		}
		name, port = n, v
	}
	return strings.ToLower(strings.TrimSuffix(name, ".")), port, nil
}

// eventData is an agent event as the audit log records it. A refusal
// whose session is bound to a host key no granted host has names where
// the run's open tunnels presenting that key go, when any do: the host
// the agent tried to sign for.
func (s *sshService) eventData(e sshagent.Event) map[string]string {
	host := e.Host
	if host == "" && e.HostKey != "" {
		host = strings.Join(s.tunnels.AddrsPresenting(e.HostKey), ",")
	}
	return map[string]string{
		"grant": e.Grant, "host": host, "key": e.Key, "host_key": e.HostKey,
		"verdict": string(e.Verdict), "reason": e.Reason, "detail": e.Detail,
	}
}

// watch wraps a tunnel's upstream connection so that the registry learns
// the host key its server presents: every tunnel to a grant's host, and
// every other one not on 443 (where only TLS goes), so that a refusal for
// a host no grant names can say which host that was. The watcher gives up
// at once on a stream that is not SSH.
func (s *sshService) watch(host string, port int, upstream net.Conn) net.Conn {
	if port == 443 && !slices.Contains(s.hosts, sshHost{host, port}) {
		return upstream
	}
	return s.tunnels.Watch(net.JoinHostPort(host, strconv.Itoa(port)), upstream)
}

// close stops the agent and lets go of the user's ssh-agent.
func (s *sshService) close() {
	if s.agents != nil {
		s.agents.Close()
	}
	if s.upstream != nil {
		s.upstream.Close()
	}
}

// allowSSHHosts opens the grants' SSH hosts in pol, on their SSH port
// only.
func allowSSHHosts(pol *policy.Policy, grants []SSHGrant) error {
	for _, g := range grants {
		if err := pol.AddSSHHosts(g.Grant.Name, g.Grant.Hosts); err != nil {
			return err
		}
	}
	return nil
}

// sshEndpoint serves SSHAgentPath, after the proxy's token check, and
// hands every other request to next.
type sshEndpoint struct {
	next  http.Handler
	ssh   *sshService
	conns hijacked
}

func (h *sshEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != SSHAgentPath {
		h.next.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "moat proxy: the SSH agent is opened with a GET", http.StatusMethodNotAllowed)
		return
	}
	c, rw, ok := h.conns.take(w, "moat proxy: cannot serve the SSH agent on this connection")
	if !ok {
		return
	}
	defer h.conns.release(c)
	if _, err := rw.WriteString("HTTP/1.1 200 OK\r\n\r\n"); err != nil || rw.Flush() != nil {
		return
	}
	// What the relay sent after its request is the agent protocol's
	// first bytes: read through the server's buffer.
	_ = agent.ServeAgent(h.ssh.agents.NewAgent(), struct {
		io.Reader
		io.Writer
	}{rw.Reader, c})
}

// Close closes every agent connection and waits for them to end, then
// stops the agent.
func (h *sshEndpoint) Close() error {
	h.conns.close()
	h.conns.wait()
	h.ssh.close()
	return nil
}

// serveSSH makes srv serve the run's ssh grants: it opens their hosts in
// the policy (done by runPolicy), watches the tunnels to them and answers
// SSHAgentPath. It returns what stops it, or nil when the run has none.
func serveSSH(cfg *Config, srv *proxy.Server, record func(kind string, data map[string]string)) (io.Closer, error) {
	if len(cfg.SSH) == 0 {
		return nil, nil
	}
	svc, err := newSSHService(cfg, record)
	if err != nil {
		return nil, err
	}
	srv.WatchTunnel = svc.watch
	h := &sshEndpoint{next: srv.Local, ssh: svc}
	srv.Local = h
	return h, nil
}
