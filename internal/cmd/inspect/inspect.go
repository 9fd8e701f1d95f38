// Package inspect implements 'moat inspect': runs' full records, as JSON
// or through a template, for scripts.
package inspect

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

// Options are the flags and arguments of 'moat inspect'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)
	Store   func() (*state.Store, error)

	Format string
	Refs   []string
}

// NewCmdInspect builds the command; runF replaces the work in tests.
func NewCmdInspect(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, Store: f.Store}
	cmd := &cobra.Command{
		Use:               "inspect <run>...",
		ValidArgsFunction: cmdutil.CompleteRuns(f, false, true),
		Short:             "Show runs' full records as JSON",
		Long: `Print the full record of each run (by ID, ID prefix or name) as one JSON
array, as docker inspect does; with --format, each run through a Go
template instead, one per line. A run that does not exist is reported on
stderr, the others are still printed, and moat then exits 1.

Keys (also the elements of 'moat list --json'; templates name them by
the Go field in brackets). Every key is always present, lists are []
when empty, and what does not exist yet is null:
  id (ID), name (Name), state (State): created, running, exited,
    stopped, failed or lost
  exit_code (ExitCode): the command's exit code, null until it ends
  error (Error): why moat failed or lost the run, "" otherwise
  workspace (Workspace), command (Command): a list of words
  image (Image), image_hash (ImageHash), dependencies (Dependencies)
  container_id (ContainerID): the agent's container
  detached (Detached), keep (Keep), tty (TTY): how it was started
  created_at (CreatedAt), started_at (StartedAt), finished_at
    (FinishedAt): RFC 3339 times, null until they happen
  moat_version (MoatVersion)
  policy (Policy): strict, permissive or none; grants (Grants): names
  privileges (Privileges): [{what, reason, effect}] beyond the sandbox
  volumes (Volumes): [{name, keep, workspace, config_digest, created_by}]
  sidecars (Sidecars): [{role, name, limits}]
  limits (Limits): {memory (bytes), cpus, pids}; 0 is no limit
  ports (Ports): [{host_ip, host_port, container_port}] published
Templates also have {{.Status}} (the state with the exit code, as
'moat list' shows it), {{.CommandLine}} (the command as one line) and
{{.PortList}} (the ports as 'moat list' shows them);
{{json .}} is the JSON object.`,
		Example: `  $ moat inspect web
  $ moat inspect --format '{{.State}} {{.ExitCode}}' web
  $ moat inspect web | jq '.[0].limits'`,
		Args: cmdutil.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return inspectRuns(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "", "Print each run through a Go `template`")
	return cmd
}

func inspectRuns(ctx context.Context, o *Options) error {
	var format *cmdutil.Format
	if o.Format != "" {
		var err error
		if format, err = cmdutil.ParseFormat(o.Format); err != nil {
			return err
		}
	}
	runs, err := cmdutil.ReadRuns(ctx, &cmdutil.Factory{Manager: o.Manager, Store: o.Store}, o.IO.ErrOut)
	if err != nil {
		return err
	}
	views := []cmdutil.RunView{}
	failed := false
	for _, ref := range o.Refs {
		r, err := state.Find(runs, ref, nil, "")
		if err != nil {
			cmdutil.PrintError(o.IO.ErrOut, err)
			failed = true
			continue
		}
		views = append(views, cmdutil.ViewRun(r))
	}
	if err := write(o.IO, format, views); err != nil {
		return err
	}
	if failed {
		return &cmdutil.ExitError{Code: 1}
	}
	return nil
}

// write prints the runs as a JSON array, or each through the template.
func write(ios *iostreams.IOStreams, format *cmdutil.Format, views []cmdutil.RunView) error {
	if format == nil {
		return cmdutil.WriteJSON(ios.Out, views)
	}
	items := make([]any, 0, len(views))
	for _, v := range views {
		items = append(items, v)
	}
	return format.Execute(ios.Out, ios.IsStdoutTTY(), nil, items)
}
