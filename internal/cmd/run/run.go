// Package run implements 'moat run': run a command in a sandboxed container
// built from the workspace's agent.yaml. Its flags and the launching of the
// run are internal/cmd/launch's, shared with the agent launchers.
package run

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/agent"
	"github.com/moatsh/moat/internal/cmd/launch"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/run"
)

// Options are the flags and arguments of 'moat run': the run flag set.
type Options = launch.Options

// NewCmdRun builds the command; runF replaces the work in tests.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Manager: f.Manager, GrantStore: f.Grants, Shape: withAgent}
	cmd := &cobra.Command{
		Use:   "run [path] [-- command [args...]]",
		Short: "Run a command in a sandboxed container for a workspace",
		Long: `Run a command in a container built from the workspace's agent.yaml.

moat builds (or reuses, by content hash) an image with exactly the declared
dependencies, mounts the workspace read-write at /workspace, runs the command
as an unprivileged user with the workspace owner's UID, streams its output and
exits with the command's exit code. The command comes from the arguments after
--, else agent.yaml's command, else bash (given your terminal, as with -it,
when moat runs on one).

The workspace is the path given, else the nearest directory upward from the
current one that holds agent.yaml (as git finds a repository; not above
your home directory), else the current directory.

When agent.yaml names an agent (agent: claude), the run gets what that agent
needs, as 'moat claude' gives it, and starts the agent unless the arguments
after -- name another command.`,
		Example: `  # Run the project's tests in the sandbox
  $ moat run ./project -- make test

  # An interactive shell
  $ moat run -it ./project -- bash

  # Let the agent use GitHub through the proxy (it never sees the token)
  $ moat grant github
  $ moat run --grant github ./project -- gh pr list

  # Start a server in the background, reach its port 3000, follow it, stop it
  $ moat run -d --name web -p 8080:3000 ./project -- ./serve.sh
  $ curl http://127.0.0.1:8080/
  $ moat logs -f web
  $ moat stop web`,
	}
	return launch.Setup(cmd, opts, runF)
}

// withAgent applies the agent profile agent.yaml's agent: names, if any.
func withAgent(ws *run.Workspace, args []string) (*run.Workspace, []string, error) {
	cfg, args, err := agent.ForConfig(ws.Config(), args)
	if err != nil {
		return nil, nil, err
	}
	return ws.WithConfig(cfg), args, nil
}
