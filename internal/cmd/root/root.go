// Package root wires moat's command tree and owns how errors become exit
// codes: the agent's own code passes through, 125 means moat failed before
// the command started, 128+n that moat was killed by signal n.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmd/agentcmd"
	"github.com/moatsh/moat/internal/cmd/attach"
	auditcmd "github.com/moatsh/moat/internal/cmd/audit"
	buildcmd "github.com/moatsh/moat/internal/cmd/build"
	"github.com/moatsh/moat/internal/cmd/clean"
	depscmd "github.com/moatsh/moat/internal/cmd/deps"
	"github.com/moatsh/moat/internal/cmd/destroy"
	execcmd "github.com/moatsh/moat/internal/cmd/exec"
	grantcmd "github.com/moatsh/moat/internal/cmd/grant"
	"github.com/moatsh/moat/internal/cmd/inspect"
	"github.com/moatsh/moat/internal/cmd/list"
	"github.com/moatsh/moat/internal/cmd/logs"
	policycmd "github.com/moatsh/moat/internal/cmd/policy"
	"github.com/moatsh/moat/internal/cmd/revoke"
	"github.com/moatsh/moat/internal/cmd/router"
	runcmd "github.com/moatsh/moat/internal/cmd/run"
	"github.com/moatsh/moat/internal/cmd/sidecar"
	"github.com/moatsh/moat/internal/cmd/stop"
	tracecmd "github.com/moatsh/moat/internal/cmd/trace"
	trustcmd "github.com/moatsh/moat/internal/cmd/trust"
	"github.com/moatsh/moat/internal/cmd/version"
	waitcmd "github.com/moatsh/moat/internal/cmd/wait"
	"github.com/moatsh/moat/internal/cmdutil"
)

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "moat <command>",
		Short: "Run AI coding agents in isolated containers",
		Long: `moat runs AI coding agents (or any command) in containers built from the
workspace's agent.yaml, so an agent can work unattended without being handed
your machine.

Start with 'moat run ./project -- cmd'; see 'moat run --help'.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       f.Version,
	}
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetFlagErrorFunc(cmdutil.UsageError)
	cmd.AddCommand(
		runcmd.NewCmdRun(f, nil),
		buildcmd.NewCmdBuild(f, nil),
		list.NewCmdList(f, nil),
		inspect.NewCmdInspect(f, nil),
		router.NewCmdRouter(f, nil),
		waitcmd.NewCmdWait(f, nil),
		logs.NewCmdLogs(f, nil),
		execcmd.NewCmdExec(f, nil),
		attach.NewCmdAttach(f, nil),
		stop.NewCmdStop(f, nil),
		destroy.NewCmdDestroy(f, nil),
		clean.NewCmdClean(f, nil),
		auditcmd.NewCmdAudit(f, nil),
		tracecmd.NewCmdTrace(f, nil),
		policycmd.NewCmdPolicy(f),
		grantcmd.NewCmdGrant(f, nil),
		revoke.NewCmdRevoke(f, nil),
		trustcmd.NewCmdTrust(f, nil),
		depscmd.NewCmdDeps(f),
		version.NewCmdVersion(f),
		exitCodesTopic(),
	)
	cmd.AddCommand(sidecar.Commands()...)
	cmd.AddCommand(agentcmd.NewCmdAgents(f)...)
	argErrorsAreUsageErrors(cmd)
	return cmd
}

// argErrorsAreUsageErrors makes a wrong number of arguments a FlagError,
// so it exits 2 and points at --help like a bad flag does.
func argErrorsAreUsageErrors(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return cmdutil.UsageError(c, err)
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		argErrorsAreUsageErrors(sub)
	}
}

func exitCodesTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What moat's exit codes mean",
		Long: `moat run and the agent launchers (moat claude, ...) exit like docker run:
  0        the command succeeded
  N        the command exited with N (passed through)
  125      moat itself failed before the command started (bad flags or
           arguments, bad agent.yaml, unknown dependency, engine unreachable,
           image build failure, ...)
  126      the command could not be executed (permission denied)
  127      the command was not found
  128+n    the command or moat was ended by signal n (130 for Ctrl-C, 143
           for SIGTERM)
Other commands:
  0        success
  1        failure
  2        usage error (unknown command, bad flags or arguments)`,
	}
}

// signalError is the cancellation cause when moat receives a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "received " + e.sig.String() }

// Main runs moat with args and returns the process exit code.
func Main(f *cmdutil.Factory, args []string) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if s, ok := <-sigs; ok {
			cancel(signalError{sig: s.(syscall.Signal)})
		}
	}()
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	err := unknownSubcommand(cmd, args)
	if err == nil {
		err = cmd.ExecuteContext(ctx)
	}
	if sig, ok := context.Cause(ctx).(signalError); ok && err != nil {
		// Interrupted: whatever the error says, the signal is why.
		fmt.Fprintf(f.IOStreams.ErrOut, "moat: %v\n", sig)
		return 128 + int(sig.sig)
	}
	return exitCode(f, cmd, args, err)
}

// unknownSubcommand refuses an argument given to a command that only
// groups others ('moat deps nosuch'), which cobra answers with the
// group's help and exit 0, as if it had worked.
func unknownSubcommand(root *cobra.Command, args []string) error {
	root.InitDefaultHelpCmd() // cobra adds these two on Execute
	root.InitDefaultCompletionCmd()
	c, rest, err := root.Find(args)
	if err == nil && c.Name() == "help" && c.Parent() == root && len(rest) > 0 {
		// cobra's 'moat help nosuch' says "Unknown help topic" and exits 0.
		if _, _, err := root.Find(rest); err != nil {
			return &cmdutil.FlagError{Err: err}
		}
		return unknownSubcommand(root, rest)
	}
	if err != nil || c == root || c.Runnable() || !c.HasSubCommands() {
		return nil
	}
	for _, a := range rest {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			msg := fmt.Sprintf("unknown command %q for %q", a, c.CommandPath())
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
			}
			if near := c.SuggestionsFor(a); len(near) > 0 {
				msg += "\n\nDid you mean this?\n\t" + strings.Join(near, "\n\t") + "\n"
			}
			return cmdutil.FlagErrorf("%s", msg)
		}
	}
	return nil
}

func exitCode(f *cmdutil.Factory, cmd *cobra.Command, args []string, err error) int {
	if err == nil {
		return cmdutil.ExitOK
	}
	var exitErr *cmdutil.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.Code
	}
	w := f.IOStreams.ErrOut
	cmdutil.PrintError(w, err)
	var flagErr *cmdutil.FlagError
	usage := errors.As(err, &flagErr) || isUnknownCommand(cmd, args, err)
	if usage {
		fmt.Fprintf(w, "\nRun '%s --help' for usage.\n", commandPath(cmd, args))
	}
	switch {
	case isRun(cmd, args):
		// As docker run: whatever moat's own error, usage ones too.
		return cmdutil.ExitMoatFailure
	case usage:
		return ExitUsage
	}
	return ExitFailure
}

// Exit codes of the commands other than 'moat run' and the launchers.
const (
	ExitFailure = 1
	ExitUsage   = 2
)

// isUnknownCommand reports whether err is cobra's for a command name that
// does not exist ("moat lsit"): a usage error, though cobra makes it a
// plain one.
func isUnknownCommand(root *cobra.Command, args []string, err error) bool {
	_, _, findErr := root.Find(args)
	return findErr != nil && findErr.Error() == err.Error()
}

func commandPath(root *cobra.Command, args []string) string {
	c, rest, err := root.Find(args)
	if err != nil {
		return root.CommandPath()
	}
	if c.Name() == "help" && c.Parent() == root && len(rest) > 0 {
		return commandPath(root, rest) // 'moat help deps nosuch': moat deps's usage
	}
	return c.CommandPath()
}

// isRun reports whether the command that ran was 'moat run' or an agent
// launcher, whose own failures exit 125 like docker run's.
func isRun(root *cobra.Command, args []string) bool {
	c, _, err := root.Find(args)
	return err == nil && c.Annotations[cmdutil.RunsCommand] != ""
}
