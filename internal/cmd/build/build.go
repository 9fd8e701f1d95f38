// Package build implements 'moat build': build a workspace's run image
// ahead of its first run, so that the run starts at once.
package build

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags and arguments of 'moat build'.
type Options struct {
	IO      *iostreams.IOStreams
	Manager func(context.Context) (*run.Manager, error)

	Workspace string // "" is the current directory
	Rebuild   bool
}

// NewCmdBuild builds the command; runF replaces the work in tests.
func NewCmdBuild(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:   "build [path]",
		Short: "Build a workspace's run image ahead of time",
		Long: `Build the image 'moat run' would use for the workspace, without starting a
run: agent.yaml's dependencies (and its agent's), on agent.yaml's image: or
dockerfile: if it names one, else on config.yaml's base image. What
agent.yaml asks for is checked against what you approved, as 'moat run'
checks it. An image that exists already is reused, as a run reuses it;
--rebuild builds it again without the engine's cache. The image's tag is
printed on stdout, the build's progress on stderr.

The workspace is the path given, else the nearest directory upward from the
current one that holds agent.yaml, else the current directory.`,
		Example: `  # Build before the first run, then run at once
  $ moat build ./project
  moat/run:2f0c4d9e1b7a6c3d5e8f
  $ moat run ./project -- make test`,
		Args: cmdutil.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Workspace = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return buildImage(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Rebuild, "rebuild", false, "Build the image again without the engine's cache")
	return cmd
}

func buildImage(ctx context.Context, o *Options) error {
	mgr, ws, err := cmdutil.OpenWorkspace(ctx, o.Manager, o.IO, o.Workspace)
	if err != nil {
		return err
	}
	// The agent's profile adds its dependencies, as 'moat run' adds them.
	if ws, err = cmdutil.WithAgent(ws, ""); err != nil {
		return err
	}
	cmdutil.AskOnTerminal(o.IO, mgr, nil)
	res, err := mgr.BuildImage(ctx, run.Options{Opened: ws, Rebuild: o.Rebuild})
	if err != nil {
		return err
	}
	if !res.Built {
		fmt.Fprintf(o.IO.ErrOut, "Image %s is up to date\n", res.Tag)
	}
	fmt.Fprintln(o.IO.Out, res.Tag)
	return nil
}
