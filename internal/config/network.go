package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/policy"
)

// Network holds agent.yaml's network section, parsed: what the run's proxy
// lets the agent reach. The grants listed in Config.Grants add their own
// hosts. Later layers read these values and never parse the text again;
// the proxy sidecar gets them through egress.PolicyFor.
type Network struct {
	// Policy is policy.Strict, policy.Permissive or policy.None; "" when
	// not set (Mode applies strict).
	Policy policy.Mode
	// Allow holds the rules in file order. Under permissive, name rules are
	// accepted and only their methods and paths have an effect; IP and CIDR
	// rules still unblock private addresses.
	Allow []AllowRule
	// Hosts maps private names to the IP addresses the proxy dials, sorted
	// by name as written.
	Hosts []HostMapping
	// CA is the path of extra PEM roots for upstream TLS, as written:
	// relative to the workspace, absolute, or starting with ~/. The caller
	// resolves it like a mount's source.
	CA string
	// GitPush is network.git-push: the refs a git push over HTTPS may
	// update, as full ref patterns ("refs/heads/agent/*"); nil lets
	// pushes update any ref.
	GitPush []string
}

// Mode is the policy the run gets: Policy, or strict when it is not set.
func (n Network) Mode() policy.Mode {
	if n.Policy == "" {
		return policy.Strict
	}
	return n.Policy
}

// AllowRule is one network.allow entry: a host rule as a string, or a
// mapping with the host and the methods and paths allowed there. Text is
// the host rule as written: approvals and the digest pin the text, so
// writing a rule another way (API.example.com for api.example.com) asks
// for approval again.
type AllowRule struct {
	Text string
	// Rule's Source is policy.SourceAllow; its Requests holds the methods
	// (read-only: true is GET and HEAD) and paths of a mapping entry, nil
	// when the entry allows every request.
	Rule policy.Rule
	// TunnelOnly is tunnel-only: true: the host's TLS is passed through
	// unopened, so nothing in it is checked.
	TunnelOnly bool
}

// HostMapping is one network.hosts entry. Name and Address are as written,
// for approvals and the digest; Host and Addr are what the proxy uses.
type HostMapping struct {
	Name, Address string
	Host          string     // Name in lower case, without a trailing dot
	Addr          netip.Addr // Address without IPv4-in-IPv6 mapping
}

var (
	networkPolicies = []string{string(policy.Strict), string(policy.Permissive), string(policy.None)}
	networkFields   = []string{"allow", "ca", "git-push", "hosts", "policy"}
)

// ruleHint is the remedy for a bad allow rule when policy has no fix.
const ruleHint = `Write a host name ("api.example.com"), a wildcard ("*.example.com"), an IP or a CIDR ("10.0.0.0/8"), optionally with a port (":8443").`

// hostAddrHint is the remedy for a network.hosts value that is not an IP
// address.
const hostAddrHint = "Write the IP address the proxy should dial for this name, such as 172.17.0.1; names are not resolved here."

func (d *decoder) network(at ast.Node, c *Config) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	kvs, ok := pairs(n)
	if !ok {
		hint := "Write it as a mapping, e.g. network: {policy: strict}."
		if s, isStr := n.(*ast.StringNode); isStr && slices.Contains(networkPolicies, s.Value) {
			hint = fmt.Sprintf("Write it as a mapping: network: {policy: %s}.", s.Value)
		}
		return d.errorf(at, hint, "network: expected a mapping of options, got %s", kind(n))
	}
	var nw Network
	seen := map[string]string{}
	for _, kv := range kvs {
		if err := d.networkOption(kv, &nw, seen); err != nil {
			return err
		}
	}
	if p := checkPolicyNone(nw); p != nil {
		return d.errorAt(at, p)
	}
	c.Network = nw
	return nil
}

// networkOption decodes one option into o. Like a top-level field, an
// option set to nothing ("ca:") is unset.
func (d *decoder) networkOption(kv *ast.MappingValueNode, o *Network, seen map[string]string) error {
	k, err := d.key(kv.Key, "network option")
	if err != nil {
		return err
	}
	if !slices.Contains(networkFields, k) {
		hint := "Valid network options: " + strings.Join(networkFields, ", ") + "."
		if s := suggest(k, networkFields); s != "" {
			hint = fmt.Sprintf("Did you mean %q?", s)
		}
		return d.errorf(kv.Key, hint, "unknown network option %q", k)
	}
	if first, dup := seen[k]; dup {
		return d.errorf(kv.Key, "Remove one of them.", "duplicate network option %q%s", k, firstAt(first))
	}
	seen[k] = posString(kv.Key)
	if v, err := d.resolve(kv.Value); err != nil || isNull(v) {
		return err
	}
	switch k {
	case "policy":
		var mode string
		mode, err = d.oneOf(kv.Value, "network.policy", networkPolicies)
		o.Policy = policy.Mode(mode)
	case "allow":
		o.Allow, err = d.networkAllow(kv.Value)
	case "hosts":
		o.Hosts, err = d.networkHosts(kv.Value)
	case "ca":
		o.CA, err = d.networkCA(kv.Value)
	case "git-push":
		o.GitPush, err = d.networkGitPush(kv.Value)
	}
	return err
}

// networkGitPush parses network.git-push into full ref patterns.
func (d *decoder) networkGitPush(at ast.Node) ([]string, error) {
	if err := d.unquotedWildcard(at); err != nil {
		return nil, err
	}
	texts, nodes, err := d.strList(at, "network.git-push", writeAsList("git-push"))
	if err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return nil, d.errorf(at, "Name the branches a push may update, such as [\"agent/*\"], or remove git-push to allow any.",
			"network.git-push: an empty list would refuse every push")
	}
	refs := make([]string, 0, len(texts))
	seen := map[string]int{}
	for i, s := range texts {
		ref, err := policy.ParseRefPattern(s)
		if err != nil {
			return nil, d.errorAt(nodes[i], &problem{msg: err.Error(), err: err,
				hint: `Write a branch pattern such as "agent/*" or a full ref such as "refs/tags/v*".`})
		}
		if j, dup := seen[ref]; dup {
			return nil, d.errorf(nodes[i], "Remove one of them.", "duplicate pattern %q in network.git-push%s", s, firstAt(posString(nodes[j])))
		}
		seen[ref] = i
		refs = append(refs, ref)
	}
	return refs, nil
}

func (d *decoder) networkAllow(at ast.Node) ([]AllowRule, error) {
	n, err := d.resolve(at)
	if err != nil {
		return nil, err
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		_, _, err := d.strList(at, "network.allow", writeAsList("allow"))
		return nil, err
	}
	rules := make([]AllowRule, 0, len(seq.Values))
	seen := make(map[string]int, len(seq.Values)) // canonical pattern -> index
	hostNodes := make([]ast.Node, 0, len(seq.Values))
	for _, item := range seq.Values {
		a, hostNode, err := d.allowEntry(item)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[a.Rule.Pattern]; dup {
			return nil, d.errorAt(hostNode, duplicateRule(a.Text, rules[j].Text, posString(hostNodes[j])))
		}
		seen[a.Rule.Pattern] = len(rules)
		rules = append(rules, a)
		hostNodes = append(hostNodes, hostNode)
	}
	return rules, nil
}

// unquotedWildcard reports a host rule like *.example.com written without
// quotes, which YAML reads as an alias, before it is reported as one.
func (d *decoder) unquotedWildcard(at ast.Node) error {
	a, isAlias := at.(*ast.AliasNode)
	if !isAlias {
		return nil
	}
	name := tokenValue(a.Value)
	if _, known := d.anchors[name]; !known && strings.HasPrefix(name, ".") {
		return d.errorf(a, fmt.Sprintf("Quote it: %q.", "*"+name),
			"network.allow: YAML reads *%s as an alias; a wildcard rule must be quoted", name)
	}
	return nil
}

func (d *decoder) networkHosts(at ast.Node) ([]HostMapping, error) {
	n, err := d.resolve(at)
	if err != nil {
		return nil, err
	}
	kvs, ok := pairs(n)
	if !ok {
		return nil, d.errorf(at, "Write one name: address pair per line under hosts:, e.g. api.test: 172.17.0.1.",
			"network.hosts: expected a mapping of names to IP addresses, got %s", kind(n))
	}
	hosts := make([]HostMapping, 0, len(kvs))
	seen := make(map[string]string, len(kvs)) // lower-case name -> position
	for _, kv := range kvs {
		h, err := d.hostMapping(kv, seen)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, func(a, b HostMapping) int { return strings.Compare(a.Name, b.Name) })
	return hosts, nil
}

func (d *decoder) hostMapping(kv *ast.MappingValueNode, seen map[string]string) (HostMapping, error) {
	name, err := d.key(kv.Key, "network.hosts name")
	if err != nil {
		return HostMapping{}, err
	}
	host, p := checkHostName(name)
	if p != nil {
		return HostMapping{}, d.errorAt(kv.Key, p)
	}
	if first, dup := seen[host]; dup {
		return HostMapping{}, d.errorf(kv.Key, "Remove one of them.", "duplicate network.hosts name %q%s", name, firstAt(first))
	}
	seen[host] = posString(kv.Key)
	if v, err := d.resolve(kv.Value); err != nil || isNull(v) {
		if err == nil {
			err = d.errorf(kv.Value, hostAddrHint, "network.hosts %s: expected an IP address, got null", name)
		}
		return HostMapping{}, err
	}
	text, err := d.str(kv.Value, "network.hosts "+name)
	if err != nil {
		return HostMapping{}, err
	}
	addr, err := policy.ParseHostAddr(name, text)
	if err != nil {
		return HostMapping{}, d.errorAt(kv.Value, &problem{msg: err.Error(), hint: hostAddrHint, err: err})
	}
	return HostMapping{Name: name, Address: text, Host: host, Addr: addr}, nil
}

func (d *decoder) networkCA(at ast.Node) (string, error) {
	s, err := d.str(at, "network.ca")
	if err != nil {
		return "", err
	}
	if p := checkCA(s); p != nil {
		return "", d.errorAt(at, p)
	}
	return s, nil
}

func (d *decoder) grants(n ast.Node, c *Config) error {
	names, nodes, err := d.strList(n, "grants", writeAsList("grants"))
	if err != nil {
		return err
	}
	seen := make(map[string]string, len(names))
	for i, s := range names {
		if p := checkGrantName(s); p != nil {
			return d.errorAt(nodes[i], p)
		}
		if first, dup := seen[s]; dup {
			return d.errorAt(nodes[i], duplicateGrant(s, first))
		}
		seen[s] = posString(nodes[i])
	}
	c.Grants = names
	return nil
}

// checkAllowRule parses one network.allow entry. The message is policy's
// without its fix, which becomes the remedy.
func checkAllowRule(s string) (policy.Rule, *problem) {
	r, err := policy.ParseRule(s, policy.SourceAllow)
	if err == nil {
		return r, nil
	}
	var re *policy.RuleError
	if !errors.As(err, &re) {
		return r, &problem{msg: err.Error(), hint: ruleHint, err: err}
	}
	why := *re
	why.Fix = ""
	return r, &problem{msg: why.Error(), hint: sentence(re.Fix, ruleHint), err: err}
}

// duplicateRule reports a rule equal to an earlier one, written as first at
// pos ("3:5", or "" when unknown).
func duplicateRule(s, first, pos string) *problem {
	same := ""
	if s != first {
		same = fmt.Sprintf(": same as %q", first)
	}
	return newProblem("Remove one of them.", "duplicate rule %q in network.allow%s%s", s, same, firstAt(pos))
}

// checkHostName checks a network.hosts name and returns it as the proxy
// looks it up: lower-case, without a trailing dot.
func checkHostName(name string) (string, *problem) {
	host, err := policy.ParseHostName(name)
	if err == nil {
		return host, nil
	}
	var re *policy.RuleError
	if errors.As(err, &re) {
		return "", &problem{msg: fmt.Sprintf("invalid network.hosts entry %q: %s", name, re.Why),
			hint: sentence(re.Fix, "Write a plain host name such as api.test."), err: err}
	}
	return "", &problem{msg: err.Error(), err: err,
		hint: "Write a plain host name such as api.test; put wildcards, ports and IP ranges under allow."}
}

func checkCA(path string) *problem {
	switch {
	case path == "":
		return newProblem("Write the path of a PEM file, such as certs/ca.pem, or remove ca.", "network.ca: the path is empty")
	case strings.ContainsRune(path, 0):
		return newProblem(nulHint, "network.ca: the path contains a NUL byte")
	case strings.HasPrefix(path, "~") && !strings.HasPrefix(path, "~/"):
		return newProblem(`Write "~/" for your home directory, a path relative to the workspace, or an absolute path.`,
			`network.ca %q: only a leading "~/" is expanded`, path)
	}
	return nil
}

// checkPolicyNone rejects options that policy none would silently ignore.
func checkPolicyNone(n Network) *problem {
	if n.Policy != policy.None {
		return nil
	}
	var set []string
	if len(n.Allow) > 0 {
		set = append(set, "allow")
	}
	if len(n.Hosts) > 0 {
		set = append(set, "hosts")
	}
	if n.CA != "" {
		set = append(set, "ca")
	}
	if n.GitPush != nil {
		set = append(set, "git-push")
	}
	if len(set) == 0 {
		return nil
	}
	return newProblem("Remove "+strings.Join(set, "/")+", or use policy strict.",
		"network: policy none turns the network off, so %s would do nothing", joinAnd(set))
}

// joinAnd renders ["a", "b", "c"] as "a, b and c".
func joinAnd(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// checkGrantName checks a grant name with the grant store's own rule.
func checkGrantName(name string) *problem {
	err := grant.ValidateName(name)
	if err == nil {
		return nil
	}
	hint := "Run 'moat grant list' to see the names of your grants."
	if lower := strings.ToLower(name); lower != name && grant.ValidateName(lower) == nil {
		hint = fmt.Sprintf("Did you mean %q?", lower)
	}
	return &problem{msg: err.Error(), hint: hint, err: err}
}

func duplicateGrant(name, pos string) *problem {
	return newProblem("Remove one of them.", "duplicate grant %q%s", name, firstAt(pos))
}

// sentence turns a fix from another package ("use \"a.com\"") into a
// remedy ("Use \"a.com\"."), or returns fallback when there is none.
func sentence(fix, fallback string) string {
	if fix == "" {
		return fallback
	}
	return strings.ToUpper(fix[:1]) + fix[1:] + "."
}
