package suggest

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/trace"
)

// Input is what a suggestion is made from.
type Input struct {
	// Requests are the run's recorded requests, allowed and denied.
	Requests []trace.Request
	// Network is the workspace's agent.yaml network section as it is now:
	// its rules and network.hosts names are already allowed.
	Network config.Network
	// Grants maps each grant the run had to the hosts its credential goes
	// to, which a strict run allows (on port 443 unless a host names one).
	Grants map[string][]string
}

// Suggestion is what agent.yaml's network section lacks for a strict run
// to make the same requests.
type Suggestion struct {
	// Strict is true when network.policy must change to strict (it says
	// permissive now).
	Strict bool
	// Allow are the rules to add to network.allow, sorted by pattern.
	Allow []Rule
	// Risky are rules that would let the same requests through but reach
	// further than a name does; they are shown, never added. Sorted by
	// pattern.
	Risky []Risky
	// Skipped are destinations in the trace that no rule can name, with
	// why, sorted.
	Skipped []string
}

// Empty reports whether the suggestion changes nothing in agent.yaml.
// Risky rules alone change nothing: they are never enabled.
func (s Suggestion) Empty() bool { return !s.Strict && len(s.Allow) == 0 }

// Rule is one rule to add and the destinations it lets through.
type Rule struct {
	Pattern string   `json:"rule"`
	Reached []string `json:"reached"` // host:port, sorted
}

// Risky is a rule set apart: what it is, why it is risky and what
// enabling it would allow.
type Risky struct {
	Pattern string   `json:"rule"`
	Reason  string   `json:"reason"`
	Allows  string   `json:"allows"`
	Reached []string `json:"reached"` // host:port, sorted
}

// ErrPolicyNone is returned for a workspace whose agent.yaml turns the
// network off: adding rules would do nothing but widen it.
var ErrPolicyNone = errors.New(`agent.yaml sets network.policy "none": the run gets no network, so no rule would apply`)

// Suggest computes the suggestion. Each destination in the trace that the
// workspace's strict policy would refuse gets a rule: its name, with the
// port when the request used another than its scheme's (443, or 80 for
// plain http); names are never widened, except that wildcardAt or more
// names directly below one domain get one wildcard rule when that domain
// is below a registrable domain. IP addresses, names that resolved to
// private addresses and wildcards over a whole registrable domain are
// Risky.
func Suggest(in Input) (Suggestion, error) {
	if in.Network.Policy == policy.None {
		return Suggestion{}, ErrPolicyNone
	}
	pol, err := strictPolicy(in.Network, in.Grants)
	if err != nil {
		return Suggestion{}, err
	}
	s := Suggestion{Strict: in.Network.Policy == policy.Permissive}
	needs := newNeeds()
	skipped := map[string]bool{}
	for _, r := range in.Requests {
		d, why, ok := destinationOf(r)
		if !ok {
			if r.Host != "" {
				skipped[fmt.Sprintf("%+q: %s", r.Host, why)] = true
			}
			continue
		}
		needs.add(pol, d)
	}
	s.Skipped = slices.Sorted(maps.Keys(skipped))
	s.Allow, s.Risky = needs.rules()
	return s, nil
}

// strictPolicy is the policy a strict run of the workspace gets: its
// allow rules, network.hosts names and its grants' hosts.
func strictPolicy(n config.Network, grants map[string][]string) (*policy.Policy, error) {
	allow := make([]string, len(n.Allow))
	for i, r := range n.Allow {
		allow[i] = r.Rule.Pattern
	}
	hosts := make(map[string]string, len(n.Hosts))
	for _, h := range n.Hosts {
		hosts[h.Host] = h.Addr.String()
	}
	p, err := policy.New(policy.Strict, allow, hosts)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(grants)) {
		if err := p.AddGrantHosts(name, grants[name]); err != nil {
			return nil, fmt.Errorf("grant %s: %w", name, err)
		}
	}
	return p, nil
}

// needs collects, per destination the policy refuses, what would let it
// through.
type needs struct {
	names map[string]*nameUse // host name -> its uses
	risky map[string]*Risky   // pattern -> risky rule
}

// nameUse is how a refused name was used: on a standard port, and on
// which other ports.
type nameUse struct {
	standard bool
	ports    map[int]bool
	reached  map[string]bool
}

func newNeeds() *needs {
	return &needs{names: map[string]*nameUse{}, risky: map[string]*Risky{}}
}

// add records what d needs under pol, if anything.
func (n *needs) add(pol *policy.Policy, d dest) {
	if d.addr.IsValid() {
		if !pol.CheckHost(d.host, d.port).Allowed {
			n.addRisky(ipRisky(d.addr, d.port, addrClass(d.addr)), d)
		}
		return
	}
	if !pol.CheckHost(d.host, d.port).Allowed {
		n.addName(d)
	}
	if d.private.IsValid() && !pol.CheckAddr(d.host, d.private, d.port).Allowed {
		r := ipRisky(d.private, d.port, d.class)
		r.Reason = fmt.Sprintf("%q resolved to %s, %s", d.host, d.private, d.class)
		n.addRisky(r, d)
	}
}

func (n *needs) addName(d dest) {
	u := n.names[d.host]
	if u == nil {
		u = &nameUse{ports: map[int]bool{}, reached: map[string]bool{}}
		n.names[d.host] = u
	}
	if d.standard {
		u.standard = true
	} else {
		u.ports[d.port] = true
	}
	u.reached[d.String()] = true
}

func (n *needs) addRisky(r Risky, d dest) {
	if have, ok := n.risky[r.Pattern]; ok {
		if !slices.Contains(have.Reached, d.String()) {
			have.Reached = append(have.Reached, d.String())
		}
		return
	}
	r.Reached = []string{d.String()}
	n.risky[r.Pattern] = &r
}

// ipRisky is the rule for one address on one port. It always names the
// port: an address rule is risky, so it opens no more than was used.
func ipRisky(addr netip.Addr, port int, class string) Risky {
	pattern := addr.String() + ":" + strconv.Itoa(port)
	if addr.Is6() {
		pattern = "[" + addr.String() + "]:" + strconv.Itoa(port)
	}
	r := Risky{Pattern: pattern, Reason: "an IP address, not a name",
		Allows: fmt.Sprintf("any connection to %s on port %d, to whoever holds that address", addr, port)}
	if class != "" {
		r.Reason = fmt.Sprintf("%s is %s", addr, class)
		r.Allows = fmt.Sprintf("any connection to %s on port %d (%s), under any name that resolves there", addr, port, class)
	}
	return r
}

// rules turns the needs into sorted rules.
func (n *needs) rules() ([]Rule, []Risky) {
	byPattern := map[string]map[string]bool{}
	add := func(pattern string, reached map[string]bool) {
		if byPattern[pattern] == nil {
			byPattern[pattern] = map[string]bool{}
		}
		maps.Copy(byPattern[pattern], reached)
	}
	for _, w := range wildcards(n.names) {
		if w.risky != nil {
			n.risky[w.risky.Pattern] = w.risky
			continue
		}
		add(w.pattern, w.reached)
		for _, name := range w.names {
			delete(n.names, name)
		}
	}
	for name, u := range n.names {
		for _, p := range u.patterns(name) {
			add(p, u.reached)
		}
	}
	allow := make([]Rule, 0, len(byPattern))
	for _, p := range slices.Sorted(maps.Keys(byPattern)) {
		allow = append(allow, Rule{Pattern: p, Reached: slices.Sorted(maps.Keys(byPattern[p]))})
	}
	risky := make([]Risky, 0, len(n.risky))
	for _, p := range slices.Sorted(maps.Keys(n.risky)) {
		r := *n.risky[p]
		slices.Sort(r.Reached)
		risky = append(risky, r)
	}
	return allow, risky
}

// patterns are the rules for one name: the bare name when it was used on
// a standard port (a rule without a port allows every port), else one
// rule per port.
func (u *nameUse) patterns(name string) []string {
	if u.standard {
		return []string{name}
	}
	var out []string
	for _, port := range slices.Sorted(maps.Keys(u.ports)) {
		out = append(out, name+":"+strconv.Itoa(port))
	}
	return out
}

// portKey is how a name's uses group for a wildcard: "" for a standard
// port, else the ports.
func (u *nameUse) portKey() string {
	if u.standard {
		return ""
	}
	ports := slices.Sorted(maps.Keys(u.ports))
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}
