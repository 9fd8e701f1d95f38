package suggest

import (
	"slices"
	"strings"

	"github.com/moatsh/moat/internal/trace"
)

// Blocked is one destination a run's proxy refused, how often, and the
// rule that would let it through: a line of the summary moat prints at
// the end of a run.
type Blocked struct {
	Dest     string // host:port, as the trace shows a tunnel
	Requests int
	// Rule is the network.allow rule Suggest gives for Dest; "" when it
	// gives none, and then Why says why not.
	Rule string
	Why  string
}

// Blocks groups the requests the proxy refused by destination, the most
// refused first (then by name), each with the rule Suggest would add for
// it, so that the summary and 'moat policy suggest' say the same. A
// destination only a risky rule would reach (an IP address, a name that
// resolved to a private address) gets no rule, and Why is the risk; one
// whose host is already allowed was refused for something else (a
// request rule, the git push policy), and Why is the proxy's reason.
// Rules are the rules of the blocks, each once, sorted.
func Blocks(in Input) (blocks []Blocked, rules []string, err error) {
	var denied []trace.Request
	for _, r := range in.Requests {
		if r.Denied {
			denied = append(denied, r)
		}
	}
	if len(denied) == 0 {
		return nil, nil, nil
	}
	in.Requests = denied
	s, err := Suggest(in)
	if err != nil {
		return nil, nil, err
	}
	byDest := map[string]*Blocked{}
	for _, r := range denied {
		d, whyNot, ok := destinationOf(r)
		key := r.Host
		if ok {
			key = d.String()
		}
		b := byDest[key]
		if b == nil {
			b = &Blocked{Dest: key, Why: "no rule can name it: " + whyNot}
			if ok {
				b.Rule, b.Why = s.ruleFor(key, r.Decision)
			}
			byDest[key] = b
		}
		b.Requests++
	}
	for _, b := range byDest {
		blocks = append(blocks, *b)
		if b.Rule != "" && !slices.Contains(rules, b.Rule) {
			rules = append(rules, b.Rule)
		}
	}
	slices.SortFunc(blocks, func(a, b Blocked) int {
		if a.Requests != b.Requests {
			return b.Requests - a.Requests
		}
		return strings.Compare(a.Dest, b.Dest)
	})
	slices.Sort(rules)
	return blocks, rules, nil
}

// ruleFor is the rule s gives for the destination key, or why it gives
// none. A risky rule wins over a name's: a name that resolved to a
// private address stays refused under its name's rule alone.
func (s Suggestion) ruleFor(key, decision string) (rule, why string) {
	for _, r := range s.Risky {
		if slices.Contains(r.Reached, key) {
			return "", "not suggested: " + r.Reason
		}
	}
	for _, r := range s.Allow {
		if slices.Contains(r.Reached, key) {
			return r.Pattern, ""
		}
	}
	return "", strings.TrimPrefix(decision, "deny: ")
}

// AllowLines are rules as the items of agent.yaml's network.allow list,
// written as 'moat policy suggest' writes them.
func AllowLines(rules []string) []string {
	lines := make([]string, len(rules))
	for i, r := range rules {
		lines[i] = "- " + yamlString(r)
	}
	return lines
}
