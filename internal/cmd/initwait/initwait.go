// Package initwait implements the hidden 'moat init-wait', which moat-init
// runs, from the copy of moat's binary in a docker:dind run's image, to
// wait for the inner daemon's log lines or its end by kernel events.
package initwait

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/initwait"
)

// Exit codes moat-init tells apart.
const (
	exitExited  = 1 // the process ended first
	exitTimeout = 2 // the time ran out, or the wait failed
)

// NewCmdInitWait builds the hidden 'init-wait' command.
func NewCmdInitWait() *cobra.Command {
	var o initwait.Options
	cmd := &cobra.Command{
		Use:   "init-wait --file LOG --line TEXT... [--pid PID] [--timeout DURATION]",
		Short: "Internal: wait for lines in a log file, or for a process to end",
		Long: `Wait until every --line has appeared in LOG (read from its start), without
polling: inotify says when the file grows, a pidfd when the process ends.

Exit status: 0 once every line has appeared, 1 if process PID ended first,
2 if the timeout passed (the lines still missing are printed) or the wait
failed.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := initwait.Wait(o)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, initwait.ErrExited):
				os.Exit(exitExited)
			default:
				fmt.Fprintf(os.Stderr, "moat init-wait: %v\n", err)
				os.Exit(exitTimeout)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.File, "file", "", "the log `file` to read")
	fl.StringArrayVar(&o.Lines, "line", nil, "`text` a line of the file must hold (repeatable; all must appear)")
	fl.IntVar(&o.PID, "pid", 0, "a process whose end ends the wait")
	fl.DurationVar(&o.Timeout, "timeout", 30*time.Second, "how long to wait at most")
	cmd.MarkFlagRequired("file")
	cmd.MarkFlagRequired("line")
	return cmd
}
