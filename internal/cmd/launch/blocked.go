package launch

import (
	"fmt"
	"io"
	"slices"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/plural"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/suggest"
	"github.com/moatsh/moat/internal/termtext"
	"github.com/moatsh/moat/internal/trace"
)

// maxBlocked is how many destinations, and how many rules, the summary of
// what a run's proxy refused lists: 'moat policy suggest' and 'moat
// trace' have the rest.
const maxBlocked = 5

// reportBlocked prints on stderr, once a foreground run has ended, what
// its proxy refused and the network.allow lines that would allow it, as
// 'moat policy suggest' would add them. A run that was refused nothing
// prints nothing; so does one whose log cannot be read (a run without a
// network has none), except for a note when the log is damaged.
func (o *Options) reportBlocked(mgr *run.Manager, r *state.Run, ws *run.Workspace) {
	f, err := run.OpenAuditLog(mgr.Store, r.ID)
	if err != nil {
		return
	}
	defer f.Close()
	l, err := trace.Read(f)
	if err != nil {
		fmt.Fprintf(o.IO.ErrOut, "note: reading the audit log of run %s for what its network policy blocked: %v\n", r.ID, err)
		return
	}
	if !slices.ContainsFunc(l.Requests, func(q trace.Request) bool { return q.Denied }) {
		return
	}
	var grants map[string][]string
	if o.GrantStore != nil {
		grants = cmdutil.GrantHosts(io.Discard, o.GrantStore, r.Grants)
	}
	blocks, rules, err := suggest.Blocks(suggest.Input{Requests: l.Requests, Network: ws.Config().Network, Grants: grants})
	if err != nil {
		return // the workspace's network turns the proxy off: it refused nothing
	}
	writeBlocked(o.IO.ErrOut, r.Name, blocks, rules)
}

// writeBlocked writes the summary of what run name's proxy refused.
func writeBlocked(w io.Writer, name string, blocks []suggest.Blocked, rules []string) {
	total := 0
	for _, b := range blocks {
		total += b.Requests
	}
	fmt.Fprintf(w, "The network policy blocked %s of run %s:\n", plural.Count(total, "request"), name)
	shown := blocks[:min(len(blocks), maxBlocked)]
	destWidth, countWidth := 0, 0
	for _, b := range shown {
		destWidth = max(destWidth, len(termtext.Field(b.Dest)))
		countWidth = max(countWidth, len(plural.Count(b.Requests, "request")))
	}
	for _, b := range shown {
		// The agent chose the host, and the request a reason quotes.
		line := fmt.Sprintf("  %-*s  %s", destWidth, termtext.Field(b.Dest), plural.Count(b.Requests, "request"))
		if b.Why != "" {
			line = fmt.Sprintf("  %-*s  %-*s  %s", destWidth, termtext.Field(b.Dest), countWidth, plural.Count(b.Requests, "request"), termtext.Field(b.Why))
		}
		fmt.Fprintln(w, line)
	}
	if more := len(blocks) - maxBlocked; more > 0 {
		fmt.Fprintf(w, "  and %s\n", plural.Count(more, "more destination"))
	}
	if len(rules) > 0 {
		fmt.Fprintln(w, "These network.allow lines in agent.yaml would allow them:")
		for _, line := range suggest.AllowLines(rules[:min(len(rules), maxBlocked)]) {
			fmt.Fprintf(w, "    %s\n", line)
		}
		if more := len(rules) - maxBlocked; more > 0 {
			fmt.Fprintf(w, "    # and %s\n", plural.Count(more, "more rule"))
		}
		fmt.Fprintf(w, "'moat policy suggest %s' writes them as a diff of agent.yaml; 'moat trace %s' shows every request.\n", name, name)
		return
	}
	fmt.Fprintf(w, "'moat trace %s' shows every request.\n", name)
}
