package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/proxy"
)

// ReadyPrefix starts the line Serve writes once it accepts connections;
// the CLI waits for it before starting the agent.
const ReadyPrefix = "moat-proxy ready "

// shutdownGrace bounds how long requests in flight may finish on stop.
const shutdownGrace = 3 * time.Second

// Serve runs the proxy described by cfg until ctx ends or the agent's
// container is gone (see acceptAgents), then drains it and writes the last
// audit events. It announces readiness on out.
//
// It also listens on the run's published ports (cfg.Ports) and carries
// their connections to the agent's (ports.go); a host address it cannot
// listen on fails it before it is ready.
func Serve(ctx context.Context, cfg *Config, out io.Writer, logf func(string, ...any)) error {
	pub, err := listenPorts(cfg.Ports, logf)
	if err != nil {
		return err
	}
	defer pub.Close()
	return runProxy(ctx, cfg, out, logf, func(_ *proxy.Server, serve func(net.Listener), gone func()) (string, io.Closer, error) {
		agents, err := acceptAgents(cfg.Socket, cfg.AgentSeen, agentGrace, serve, gone, pub.sockets, logf)
		return cfg.Socket, agents, err
	})
}

// agentListener starts taking the agent's connections for srv: it calls
// serve with each listener the proxy must serve and gone once the agent
// is gone. It returns what the ready line names and what stops it.
type agentListener func(srv *proxy.Server, serve func(net.Listener), gone func()) (ready string, agents io.Closer, err error)

func runProxy(ctx context.Context, cfg *Config, out io.Writer, logf func(string, ...any), listen agentListener) error {
	srv, err := newServer(cfg, logf)
	if err != nil {
		return err
	}
	attest := srv.Local.(*attestEndpoint)
	rec, closeAudit, err := openAudit(cfg.Audit, logf)
	if err != nil {
		return err
	}
	defer closeAudit()
	if rec != nil {
		attest.record = rec.Record
		srv.OnEvent = func(e proxy.Event) {
			if !attest.ownProbe(e) {
				recordEvent(rec, e)
			}
		}
	}
	var record func(string, map[string]string)
	if rec != nil {
		record = rec.Record
	}
	sshAgent, err := serveSSH(cfg, srv, record)
	if err != nil {
		return err
	}
	if sshAgent != nil {
		defer sshAgent.Close()
	}
	ctx, agentGone := context.WithCancel(ctx)
	defer agentGone()
	served := make(chan error, 1)
	serve := func(port net.Listener) {
		go func() {
			if err := srv.Serve(port); !errors.Is(err, http.ErrServerClosed) {
				select {
				case served <- err:
				default:
				}
			}
		}()
	}
	ready, agents, err := listen(srv, serve, func() {
		logf("moat proxy: the agent's container is gone; stopping")
		agentGone()
	})
	if err != nil {
		return err
	}
	defer agents.Close()
	fmt.Fprintf(out, "%s%s\n", ReadyPrefix, ready)
	var failed error
	select {
	case <-ctx.Done():
	case err := <-served:
		failed = fmt.Errorf("serving the proxy: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	srv.Shutdown(sctx)
	return failed
}

// newServer builds the proxy cfg describes, with the attestation's
// endpoint (an *attestEndpoint) as its Local handler at AttestHost.
func newServer(cfg *Config, logf func(string, ...any)) (*proxy.Server, error) {
	pol, err := runPolicy(cfg)
	if err != nil {
		return nil, err
	}
	pol.Local = newHostAddrs(nil, nil).Contains
	ca, err := proxy.LoadRunCA(cfg.CA.Cert, cfg.CA.Key)
	if err != nil {
		return nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if len(cfg.UpstreamRoots) > 0 && !roots.AppendCertsFromPEM(cfg.UpstreamRoots) {
		return nil, errors.New("the upstream CA certificates hold no PEM certificate")
	}
	push, err := cfg.Policy.refRules()
	if err != nil {
		return nil, err
	}
	placeholders := make([]proxy.Sensitive, len(cfg.Placeholders))
	for i, p := range cfg.Placeholders {
		placeholders[i] = proxy.Sensitive{Value: p.Value, What: p.What}
	}
	creds := newCredentials(cfg.Grants, RenewClient(pol.Hosts, roots), logf)
	attest := newAttestEndpoint(creds, pol)
	creds.ruled = pol.HasRequestRules
	return &proxy.Server{
		Placeholders: placeholders,
		GitPush:      push,
		Resolver:     resolverWith(pol.Hosts),
		Token:        cfg.Token,
		Policy:       pol,
		Credentials:  creds,
		Leaves:       proxy.NewLeaves(ca, nil),
		UpstreamTLS:  &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Logf:         logf,
		Local:        attest,
		LocalHost:    AttestHost,
	}, nil
}

// resolverWith resolves the names network.hosts maps to their address
// and every other name with the system's resolver.
func resolverWith(hosts map[string]netip.Addr) func(context.Context, string) ([]netip.Addr, error) {
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if a, ok := hosts[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
			return []netip.Addr{a}, nil
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		for i, a := range addrs {
			addrs[i] = a.Unmap()
		}
		return addrs, err
	}
}

func openAudit(a *Audit, logf func(string, ...any)) (*audit.Recorder, func(), error) {
	if a == nil {
		return nil, func() {}, nil
	}
	l, err := audit.Open(a.Path, a.RunID, a.Key, audit.Options{CheckpointEvery: proxyCheckpointEvery})
	if err != nil {
		return nil, nil, err
	}
	rec := audit.NewRecorder(l, func(err error) { logf("moat proxy: audit log: %v", err) })
	return rec, func() {
		rec.Close()
		if err := l.Release(); err != nil {
			logf("moat proxy: audit log: %v", err)
		}
	}, nil
}

// recordEvent turns a proxy event into audit entries: the credential
// injection first, then the request.
func recordEvent(rec *audit.Recorder, e proxy.Event) {
	if e.Grant != "" {
		rec.Record(audit.KindCredentialInjected, map[string]string{
			"grant": e.Grant, "host": e.Host, "method": e.Method, "path": e.Path,
		})
	}
	kind := audit.KindNetRequest
	if e.Decision != "allow" && e.Decision != "" {
		kind = audit.KindNetDenied
	}
	rec.Record(kind, map[string]string{
		audit.NetTime: e.Time.UTC().Format(time.RFC3339Nano), audit.NetMethod: e.Method, audit.NetScheme: e.Scheme,
		audit.NetHost: e.Host, audit.NetPath: e.Path, audit.NetStatus: strconv.Itoa(e.Status),
		audit.NetDurationUS: strconv.FormatInt(e.Duration.Microseconds(), 10),
		audit.NetBytesIn:    strconv.FormatInt(e.BytesIn, 10), audit.NetBytesOut: strconv.FormatInt(e.BytesOut, 10),
		audit.NetGrant: e.Grant, audit.NetDecision: e.Decision, audit.NetError: e.Err,
	})
}

// proxyCheckpointEvery spaces the proxy's signed checkpoints (each one a
// signature and an fsync) further apart than the CLI's: a busy agent makes
// two entries per request. The CLI signs the end of every run.
const proxyCheckpointEvery = 1000
