package cmdutil

import (
	"strconv"

	"github.com/moatsh/moat/internal/plural"
	"github.com/spf13/cobra"
)

// The argument-count checks of moat's commands, used in place of cobra's
// so that their errors are moat's own words (a FlagError: exit 2, with
// the command's usage line) and do not hang on cobra's message text.

// NoArgs refuses any argument. On a command that groups others (moat
// deps) an argument is a command that does not exist.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasAvailableSubCommands() {
		return FlagErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return argCountError(cmd, "no arguments", len(args))
}

// ExactArgs wants exactly n arguments.
func ExactArgs(n int) cobra.PositionalArgs {
	return RangeArgs(n, n)
}

// MinimumNArgs wants n arguments or more.
func MinimumNArgs(n int) cobra.PositionalArgs {
	return RangeArgs(n, -1)
}

// MaximumNArgs wants n arguments at most.
func MaximumNArgs(n int) cobra.PositionalArgs {
	return RangeArgs(0, n)
}

// RangeArgs wants min to max arguments; max < 0 means no upper bound.
func RangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		return argCountError(cmd, argsWanted(min, max), len(args))
	}
}

// argsWanted words what RangeArgs(min, max) takes.
func argsWanted(min, max int) string {
	switch {
	case max < 0:
		return "at least " + plural.Count(min, "argument")
	case min == max:
		return plural.Count(min, "argument")
	case min == 0:
		return "at most " + plural.Count(max, "argument")
	}
	return strconv.Itoa(min) + " to " + plural.Count(max, "argument")
}

func argCountError(cmd *cobra.Command, wanted string, got int) error {
	return FlagErrorf("'%s' takes %s, not %d\n\nUsage: %s", cmd.CommandPath(), wanted, got, cmd.UseLine())
}
