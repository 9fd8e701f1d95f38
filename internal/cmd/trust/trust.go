// Package trust implements 'moat trust': show what a workspace's agent.yaml
// gives the agent and approve it, so that runs of the workspace may have it.
package trust

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags and arguments of 'moat trust'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Workspace string
	Yes       bool
	Agent     string // --agent: the launcher's profile to review with
}

// NewCmdTrust builds the command; runF replaces the work in tests.
func NewCmdTrust(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:   "trust [path]",
		Short: "Show and approve what a workspace's agent.yaml gives the agent",
		Long: `Show the sandbox a workspace's agent.yaml asks for (grants, mounts,
network, environment, Docker) and approve it for that workspace.

The agent can rewrite agent.yaml, so moat does not obey it: a run whose
agent.yaml asks for anything beyond moat's default sandbox, or beyond what
you approved, asks first on a terminal and fails (exit 125) without one.
Approvals are kept per workspace in moat's home; asking for less than was
approved needs no new approval.`,
		Example: `  # Review the current directory's agent.yaml and approve it
  $ moat trust

  # Approve what 'moat claude ./project' asks for (Claude's hosts, its install)
  $ moat trust --agent claude ./project

  # Approve without asking, in a script you control
  $ moat trust --yes ./project`,
		Args: cmdutil.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Workspace = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return trustWorkspace(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "Approve without asking")
	cmd.Flags().StringVar(&opts.Agent, "agent", "", "Review with what an agent's launcher adds (moat <agent>), e.g. claude")
	return cmd
}

func trustWorkspace(ctx context.Context, o *Options) error {
	mgr, ws, err := cmdutil.OpenWorkspace(ctx, o.Manager, o.IO, o.Workspace)
	if err != nil {
		return err
	}
	if ws, err = cmdutil.WithAgent(ws, o.Agent); err != nil {
		return err
	}
	r, err := mgr.ReviewWorkspace(ctx, ws)
	if err != nil {
		return err
	}
	printReview(o.IO, r)
	if len(r.New) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "Nothing new to approve.")
		return nil
	}
	switch {
	case o.Yes:
	case !o.IO.IsStdinTTY():
		return cmdutil.WithHint(errors.New("not approved: stdin is not a terminal to ask on"),
			"Run 'moat trust --yes' to approve without asking.")
	case !cmdutil.AskApproval(o.IO, run.ApprovalRequest{Workspace: r.Workspace, File: r.File, Changes: r.New}):
		fmt.Fprintln(o.IO.ErrOut, "Nothing approved.")
		return &cmdutil.ExitError{Code: 1}
	}
	if err := mgr.ApproveReview(r); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Approved for %s.\n", r.Workspace)
	return nil
}

// printReview writes the workspace's sandbox to stdout: the result.
func printReview(ios *iostreams.IOStreams, r *run.Review) {
	w := ios.Out
	fmt.Fprintf(w, "Workspace %s\n", r.Workspace)
	if r.File == "" {
		fmt.Fprintln(w, "No agent.yaml: moat's default sandbox.")
		return
	}
	fmt.Fprintf(w, "%s gives the agent:\n", r.File)
	if len(r.All) == 0 {
		fmt.Fprintln(w, "  nothing, not even a network (network.policy: none)")
	}
	for _, line := range r.All {
		fmt.Fprintf(w, "  - %s\n", line)
	}
	if len(r.New) > 0 {
		fmt.Fprintln(w, "Not approved yet:")
		for _, line := range r.New {
			fmt.Fprintf(w, "  - %s\n", line)
		}
	}
}
