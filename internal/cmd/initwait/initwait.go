// Package initwait implements the hidden 'moat init-wait', which moat-init
// runs, from the copy of moat's binary in a docker:dind run's image, to
// wait for the inner daemon's log lines or its end by kernel events. It is
// built into moat-sidecar too (see internal/cmd/sidecar).
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
	var connect string
	cmd := &cobra.Command{
		Use:   "init-wait (--file LOG --line TEXT... [--pid PID] | --connect ADDRESS) [--timeout DURATION]",
		Short: "Internal: wait for lines in a log file, a process to end, or a port to accept",
		Long: `Wait until every --line has appeared in LOG (read from its start), without
polling: inotify says when the file grows, a pidfd when the process ends.
With --connect, wait until a TCP connection to ADDRESS succeeds instead.

Exit status: 0 once every line has appeared (or the connection succeeded),
1 if process PID ended first, 2 if the timeout passed (what is still
missing is printed) or the wait failed.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			switch {
			case connect != "":
				err = initwait.Connect(connect, o.Timeout)
			case o.File != "" && len(o.Lines) > 0:
				err = initwait.Wait(o)
			default:
				err = errors.New("usage: give --file and --line, or --connect")
			}
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
	fl.StringVar(&connect, "connect", "", "wait for a TCP connection to this `address` to succeed instead")
	fl.DurationVar(&o.Timeout, "timeout", 30*time.Second, "how long to wait at most")
	return cmd
}
