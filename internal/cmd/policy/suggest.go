package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/suggest"
	"github.com/moatsh/moat/internal/termtext"
	"github.com/moatsh/moat/internal/trace"
)

// SuggestOptions are the flags and arguments of 'moat policy suggest'.
type SuggestOptions struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)
	Store   func() (*state.Store, error)
	Grants  func() (*grant.Store, error)

	Ref  string
	JSON bool
}

// NewCmdSuggest builds the command; runF replaces the work in tests.
func NewCmdSuggest(f *cmdutil.Factory, runF func(context.Context, *SuggestOptions) error) *cobra.Command {
	opts := &SuggestOptions{IO: f.IOStreams, Manager: f.Manager, Store: f.Store, Grants: f.Grants}
	cmd := &cobra.Command{
		Use:   "suggest [run]",
		Short: "Suggest the network rules a run needed, as a diff to agent.yaml",
		Long: `Read the requests a run made, addressed by ID, ID prefix or name (default:
the most recent run), from its audit log, and print the network.allow rules
its workspace's agent.yaml lacks for a strict run to make them again, as a
unified diff to that agent.yaml. From a permissive run that is every host
it reached; from a strict run, the hosts it was refused.

Hosts that a rule, a network.hosts name or one of the run's grants already
allows get no rule. A host used on another port than its scheme's own gets
a rule with that port; four or more names directly below one domain get one
wildcard rule instead. A permissive policy is set to strict. The rest of
agent.yaml is kept byte for byte.

Risky rules are set apart: IP addresses, names that resolved to private
addresses, and wildcards over a whole registrable domain. They are in the
diff as comments, so applying it enables none of them, and listed on stderr
with what they would allow.

The hosts are what the agent asked for: read the diff before you apply it,
then approve the change with 'moat trust'. With --json, print the
suggestion as data instead.`,
		Example: `  # Review, apply and approve the rules the last run needed
  $ moat policy suggest
  $ moat policy suggest | patch -d ~/project -p1
  $ moat trust ~/project

  # The suggestion as data
  $ moat policy suggest web --json | jq -r '.allow[].rule'`,
		Args: cmdutil.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return suggestRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "Print the suggestion as JSON instead of a diff")
	return cmd
}

func suggestRun(ctx context.Context, o *SuggestOptions) error {
	runs, store, err := cmdutil.LoadRuns(ctx, &cmdutil.Factory{Manager: o.Manager, Store: o.Store})
	if runs == nil && err != nil {
		return err
	}
	r, err := state.Find(runs, o.Ref, nil, "")
	if err != nil {
		return err
	}
	reqs, err := readRequests(o.IO.ErrOut, store, r.ID)
	if err != nil {
		return err
	}
	ws, err := readWorkspace(r)
	if err != nil {
		return err
	}
	s, err := suggest.Suggest(suggest.Input{Requests: reqs, Network: ws.config.Network, Grants: o.grantHosts(r, ws.config)})
	if err != nil {
		return cmdutil.WithHint(fmt.Errorf("%s: %w", ws.path, err), "Set network.policy to strict first if the agent should reach the network.")
	}
	for _, note := range s.Skipped {
		fmt.Fprintf(o.IO.ErrOut, "note: no rule can name %s; left out\n", note)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, newReport(r, ws.path, s))
	}
	writeRisky(o.IO.ErrOut, s.Risky)
	if s.Empty() {
		fmt.Fprintf(o.IO.ErrOut, "Nothing to add: %s already allows every request of run %s%s.\n", ws.path, r.ID, riskyAside(s.Risky))
		return nil
	}
	p, err := suggest.Edit(ws.path, ws.data, suggest.ChangeOf(s))
	var ee *suggest.EditError
	if errors.As(err, &ee) {
		return cmdutil.WithHint(fmt.Errorf("cannot edit %s safely: %w", ws.path, err),
			"Add this to its network section by hand:\n\n"+suggest.Block(suggest.ChangeOf(s)))
	}
	if err != nil {
		return err
	}
	fmt.Fprint(o.IO.Out, p.Diff(config.FileName))
	fmt.Fprintf(o.IO.ErrOut, "%s for %s. To apply it and approve the change:\n  moat policy suggest %s | patch -d %s -p1\n  moat trust %s\n",
		summary(s), ws.path, r.ID, termtext.ShellQuote(ws.dir), termtext.ShellQuote(ws.dir))
	return nil
}

// workspace is a run's workspace and its agent.yaml as it is now.
type workspace struct {
	dir, path string
	data      []byte // nil when there is no agent.yaml
	config    *config.Config
}

// readWorkspace reads the agent.yaml of r's workspace as moat reads it: a
// regular file inside the workspace, of at most 1 MiB, that parses.
func readWorkspace(r *state.Run) (*workspace, error) {
	if r.Workspace == "" {
		return nil, fmt.Errorf("run %s has no workspace on record", r.ID)
	}
	ws := &workspace{dir: r.Workspace, path: filepath.Join(r.Workspace, config.FileName)}
	data, err := config.ReadInside(ws.dir, config.FileName, maxAgentYAML)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ws.config = &config.Config{}
		return ws, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", ws.path, err)
	}
	ws.data = data
	if ws.config, err = config.Parse(ws.path, data); err != nil {
		return nil, err
	}
	return ws, nil
}

// maxAgentYAML bounds the read; config.Parse refuses anything over 1 MiB
// with its own message, so one byte more is enough to tell.
const maxAgentYAML = 1<<20 + 1

// grantHosts maps the run's grants and the workspace's to the hosts their
// credentials go to, which a strict run allows.
func (o *SuggestOptions) grantHosts(r *state.Run, c *config.Config) map[string][]string {
	names := slices.Clone(r.Grants)
	for _, g := range c.Grants {
		if !slices.Contains(names, g) {
			names = append(names, g)
		}
	}
	return cmdutil.GrantHosts(o.IO.ErrOut, o.Grants, names)
}

// readRequests reads the run's requests from its audit log, without
// verifying the chain ('moat audit' does), as 'moat trace' does.
func readRequests(errOut io.Writer, store *state.Store, runID string) ([]trace.Request, error) {
	f, err := run.OpenAuditLog(store, runID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run %s has no audit log (%s)", runID, store.Path(runID, run.AuditFile))
	}
	if err != nil {
		return nil, fmt.Errorf("opening the audit log of run %s: %w", runID, err)
	}
	defer f.Close()
	l, err := trace.Read(f)
	var lineErr *audit.LineError
	if errors.As(err, &lineErr) {
		err = cmdutil.WithHint(err, fmt.Sprintf("Run 'moat audit %s' to check the log.", runID))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the audit log of run %s: %w", runID, err)
	}
	if l.Torn > 0 || len(l.Truncated) > 0 {
		fmt.Fprintf(errOut, "note: the trace of run %s is incomplete; the suggestion covers what it holds ('moat trace %s' says more)\n", runID, runID)
	}
	return l.Requests, nil
}
