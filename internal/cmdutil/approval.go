package cmdutil

import (
	"fmt"

	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// AskApproval shows what a workspace's agent.yaml asks for beyond what was
// approved and asks whether to allow it; 'moat trust' asks the same way.
func AskApproval(ios *iostreams.IOStreams, req run.ApprovalRequest) bool {
	w := ios.ErrOut
	if req.First {
		fmt.Fprintf(w, "%s asks for more than moat's default sandbox:\n", req.File)
	} else {
		fmt.Fprintf(w, "%s asks for more than you approved for this workspace:\n", req.File)
	}
	for _, c := range req.Changes {
		fmt.Fprintf(w, "  - %s\n", c)
	}
	fmt.Fprintln(w, "The agent can rewrite agent.yaml: allow this only if you expect it.")
	return Confirm(ios, "Allow this, and remember it for "+req.Workspace+"?")
}

// AskOnTerminal makes mgr ask the user (AskApproval) when a workspace's
// agent.yaml asks for more than was approved, if stdin and stderr are a
// terminal; without one mgr refuses such a run, as it does with no one to
// ask. raw, when not nil, is the terminal a run holds in raw mode: the
// question is asked with it back in its normal mode.
func AskOnTerminal(ios *iostreams.IOStreams, mgr *run.Manager, raw *Terminal) {
	if !ios.IsStdinTTY() || !ios.IsStderrTTY() {
		return
	}
	mgr.AskApproval = func(req run.ApprovalRequest) (bool, error) {
		var yes bool
		raw.WhileCooked(func() { yes = AskApproval(ios, req) })
		return yes, nil
	}
}
