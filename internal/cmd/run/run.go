// Package run implements 'moat run': run a command in a sandboxed container
// built from the workspace's agent.yaml. Its flags and the launching of the
// run are internal/cmd/launch's, shared with the agent launchers.
package run

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmd/launch"
	"github.com/moatsh/moat/internal/cmdutil"
)

// Options are the flags and arguments of 'moat run': the run flag set.
type Options = launch.Options

// NewCmdRun builds the command; runF replaces the work in tests.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:   "run [path] [-- command [args...]]",
		Short: "Run a command in a sandboxed container for a workspace",
		Long: `Run a command in a container built from the workspace's agent.yaml.

moat builds (or reuses, by content hash) an image with exactly the declared
dependencies, mounts the workspace read-write at /workspace, runs the command
as an unprivileged user with the workspace owner's UID, streams its output and
exits with the command's exit code. The command comes from the arguments after
--, else agent.yaml's command, else bash.`,
		Example: `  # Run the project's tests in the sandbox
  $ moat run ./project -- make test

  # An interactive shell
  $ moat run -it ./project -- bash

  # Let the agent use GitHub through the proxy (it never sees the token)
  $ moat grant github
  $ moat run --grant github ./project -- gh pr list

  # Start in the background, follow it, stop it
  $ moat run -d --name web ./project -- ./serve.sh
  $ moat logs -f web
  $ moat stop web`,
	}
	return launch.Setup(cmd, opts, runF)
}
