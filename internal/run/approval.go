package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/termtext"
	"github.com/moatsh/moat/internal/trust"
)

// agent.yaml is approved, not obeyed: what it gives the agent beyond the
// default sandbox must have been approved by the user for this workspace
// (trust.Store), because the agent of the last run could have written it.

// ApprovalRequest is what a run asks the user to approve.
type ApprovalRequest struct {
	Workspace string
	File      string   // the agent.yaml asking
	Changes   []string // each permission not approved yet, worded
	First     bool     // nothing was approved for this workspace yet
}

// Approver asks the user about a request and reports their answer. The CLI
// sets one only when it can ask (a terminal); without one a run that
// needs approval fails before anything is created.
type Approver func(ApprovalRequest) (bool, error)

// NotApprovedError reports a config that asks for what the user has not
// approved for its workspace.
type NotApprovedError struct {
	ApprovalRequest
	Declined bool // the user was asked and said no
}

func (e *NotApprovedError) Error() string {
	var b strings.Builder
	if e.Declined {
		fmt.Fprintf(&b, "not approved: %s asks for", e.File)
	} else {
		fmt.Fprintf(&b, "%s asks for", e.File)
	}
	b.WriteString(" what you have not approved for this workspace:")
	for _, c := range e.Changes {
		b.WriteString("\n  - " + c)
	}
	return b.String()
}

func (e *NotApprovedError) Hint() string {
	if e.Declined {
		return "Nothing was run. Change agent.yaml, or approve it with: moat trust " + termtext.ShellQuote(e.Workspace)
	}
	return "Review and approve it with: moat trust " + termtext.ShellQuote(e.Workspace)
}

func (m *Manager) trustStore() *trust.Store {
	return &trust.Store{Dir: filepath.Join(m.Store.Root, "trust")}
}

// checkApproval is the last step of resolving a run: everything agent.yaml
// asks for is known, nothing is built or created yet.
func checkApproval(m *Manager, _ Options, p *plan) error {
	sb := sandboxOf(p, m.grantHostsByName)
	p.sandboxDigest = sandboxDigest(sb.Permissions)
	store := m.trustStore()
	approved, err := store.Approved(p.workspace)
	if err != nil {
		return err
	}
	wide := trust.Widening(approved, sb.Permissions)
	if len(wide) == 0 {
		return nil
	}
	req := ApprovalRequest{Workspace: p.workspace, File: configName(p), First: approved == nil, Changes: sb.DescribeAll(wide)}
	if m.AskApproval == nil {
		return &NotApprovedError{ApprovalRequest: req}
	}
	ok, err := m.AskApproval(req)
	if err != nil {
		return err
	}
	if !ok {
		return &NotApprovedError{ApprovalRequest: req, Declined: true}
	}
	return store.Approve(p.workspace, sb.Permissions, m.now())
}

// sandboxOf lists what p's agent.yaml gives the agent beyond the default
// sandbox. Flags (-e, --grant) are the user's own and need no approval.
// Mount sources are the resolved host paths and network.ca is pinned by
// the digest of the content the proxy will trust.
func sandboxOf(p *plan, grantHosts func(string) ([]string, bool)) *trust.Sandbox {
	sb := &trust.Sandbox{GrantHosts: map[string][]string{}, SSHGrants: map[string]bool{}}
	for _, g := range p.cfg.Grants {
		sb.Add(trust.Grant, g)
		sb.GrantHosts[g], sb.SSHGrants[g] = grantHosts(g)
	}
	for _, mt := range p.mounts[1:] { // the first is the workspace
		sb.Add(trust.Read, mt.Source+":"+mt.Target)
		if !mt.ReadOnly {
			sb.Add(trust.Write, mt.Source+":"+mt.Target)
		}
	}
	addBase(sb, p.base)
	addNetwork(sb, p.cfg.Network, p.networkCA)
	for _, k := range sortedKeys(p.cfg.Env) {
		sb.Add(trust.Env, k+"="+p.cfg.Env[k])
	}
	for _, d := range p.deps {
		switch {
		case d.Mode == deps.DockerHost:
			sb.Add(trust.Docker, "host")
		case d.Mode == deps.DockerDind:
			sb.Add(trust.Docker, "dind")
		case d.Method == deps.MethodNPM || d.Method == deps.MethodPip || d.Method == deps.MethodDebian:
			// Their install scripts run at build time, as root, with the
			// engine's network: code of the package author's choosing
			// (a Debian package's, signed by Debian, chosen by agent.yaml).
			sb.Add(trust.Package, d.Key())
		}
	}
	addDockerOptions(sb, p.cfg.Docker)
	for _, port := range p.cfg.Ports {
		if !port.IsLoopback() {
			sb.Add(trust.Publish, port.String())
		}
	}
	return sb
}

// addNetwork lists the rules and mappings as written: approvals pin the
// text, as they always have.
func addNetwork(sb *trust.Sandbox, nw config.Network, ca []byte) {
	switch nw.Mode() {
	case policy.None:
		return // no network: nothing else in the section reaches anything
	case policy.Permissive:
		sb.Add(trust.Network, "")
		sb.Add(trust.AnyHost, "")
	default:
		sb.Add(trust.Network, "")
	}
	for _, a := range nw.Allow {
		addAllow(sb, a)
	}
	for _, h := range nw.Hosts { // sorted by name
		sb.Add(trust.Host, h.Name+"="+h.Address)
	}
	for _, ref := range nw.GitPush { // narrows: see trust.Widening
		sb.Add(trust.Push, ref)
	}
	if ca != nil {
		sum := sha256.Sum256(ca)
		sb.Add(trust.CA, nw.CA+" sha256:"+hex.EncodeToString(sum[:]))
	}
}

// addAllow lists a network.allow entry: the host, or for an entry with
// methods or paths each method (or any) on each path (or any) there.
func addAllow(sb *trust.Sandbox, a config.AllowRule) {
	if a.TunnelOnly {
		sb.Add(trust.Allow, a.Text)
		sb.Add(trust.Tunnel, a.Text)
		return
	}
	req := a.Rule.Requests
	if req == nil {
		sb.Add(trust.Allow, a.Text)
		return
	}
	methods, paths := req.Methods, req.PathStrings()
	if methods == nil {
		methods = []string{""}
	}
	if paths == nil {
		paths = []string{""}
	}
	for _, m := range methods {
		for _, p := range paths {
			sb.Add(trust.Request, trust.RequestValue(a.Text, m, p))
		}
	}
}

// addDockerOptions adds the docker settings that widen the sandbox; the
// others (ready_timeout, buildkit: false) only tune or narrow it.
func addDockerOptions(sb *trust.Sandbox, d config.Docker) {
	if d.Cache {
		sb.Add(trust.Option, "cache")
	}
	if d.HostBypassesEgress {
		sb.Add(trust.Option, "host_bypasses_egress")
	}
	for _, r := range d.InsecureRegistries {
		sb.Add(trust.Option, "insecure_registry="+r)
	}
	if d.Install == "docker" {
		sb.Add(trust.Option, "install=docker")
	}
}

// Review is a workspace's sandbox as 'moat trust' shows it.
type Review struct {
	Workspace string
	File      string   // agent.yaml, or "" when there is none
	All       []string // everything agent.yaml gives the agent, worded
	New       []string // the part not approved yet
	sandbox   *trust.Sandbox
}

// Review resolves the workspace at path and its agent.yaml the way a run
// would, without building or creating anything, and compares what it asks
// for with what was approved.
func (m *Manager) Review(ctx context.Context, path string) (*Review, error) {
	ws, err := m.OpenWorkspace(path)
	if err != nil {
		return nil, err
	}
	return m.ReviewWorkspace(ctx, ws)
}

// ReviewWorkspace is Review of an opened workspace, whose configuration
// the caller may have shaped (an agent profile applied): what a run of it
// would ask for is what is reviewed.
func (m *Manager) ReviewWorkspace(ctx context.Context, ws *Workspace) (*Review, error) {
	p := ws.plan()
	for _, step := range []func(*Manager, Options, *plan) error{resolveMounts, resolveDeps, resolveNetworkCA} {
		if err := step(m, Options{}, p); err != nil {
			return nil, err
		}
	}
	if err := m.resolveBase(ctx, p); err != nil {
		return nil, err
	}
	sb := sandboxOf(p, m.grantHostsByName)
	approved, err := m.trustStore().Approved(p.workspace)
	if err != nil {
		return nil, err
	}
	return &Review{Workspace: p.workspace, File: p.cfg.Path, sandbox: sb,
		All: sb.DescribeAll(sb.Permissions), New: sb.DescribeAll(trust.Widening(approved, sb.Permissions))}, nil
}

// ApproveReview records what r shows as approved for its workspace.
func (m *Manager) ApproveReview(r *Review) error {
	return m.trustStore().Approve(r.Workspace, r.sandbox.Permissions, m.now())
}

// grantHostsByName returns a grant's hosts for wording, without failing
// on a grant that is not stored yet.
func (m *Manager) grantHostsByName(name string) (hosts []string, ssh bool) {
	if g, ok := grant.Builtin(grant.Kind(name)); ok {
		return g.Hosts, false
	}
	if m.Grants == nil {
		return nil, false
	}
	g, _, err := m.Grants.Get(name)
	if err != nil {
		return nil, false
	}
	return g.Hosts, g.Kind == grant.SSH
}
