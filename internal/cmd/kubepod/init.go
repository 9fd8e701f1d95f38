package kubepod

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// Exit codes of 'kube init' itself, as moat's (docs: exit codes): the
// command's own status otherwise.
const (
	exitInitFailed = 125 // the go-ahead never came, or --stdin cannot be opened
	exitCannotRun  = 126
	exitNotFound   = 127
)

// forwarded are the signals init passes on to its child: those a runtime
// or a user sends to stop, reload or resize it.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

type initOptions struct {
	Stdin       string
	WaitGo      string
	WaitTimeout time.Duration
	Argv        []string
}

func newCmdInit() *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init [--stdin FILE] [--wait-go FILE] [--wait-timeout DURATION] -- COMMAND [ARG]...",
		Short: "Run a command as a container's PID 1: forward signals, reap, pass its status on",
		Long: `Run COMMAND, as PID 1 of a pod's main container: forward SIGTERM, SIGINT,
SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to it, reap every process
that ends (orphans become PID 1's children), and exit with its status
(128+N if signal N killed it) once it ends. With a terminal, COMMAND gets
a process group of its own in the terminal's foreground, so that a key
that signals (Ctrl-C) reaches it once, not again through init.

With --wait-go, first wait until FILE exists (moat runs 'kube done FILE'
over exec once its client is attached). With --stdin, COMMAND reads FILE
rather than init's stdin. COMMAND's environment is init's.

Exit status: COMMAND's; 125 if the go-ahead did not come or FILE cannot be
read, 126 if COMMAND cannot be run, 127 if it is not found.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Argv = args
			os.Exit(runInit(o, cmd.ErrOrStderr()))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVar(&o.Stdin, "stdin", "", "the `file` COMMAND reads as its stdin")
	fl.StringVar(&o.WaitGo, "wait-go", "", "a `file` to wait for before starting COMMAND")
	fl.DurationVar(&o.WaitTimeout, "wait-timeout", 10*time.Minute, "how long to wait for --wait-go at most")
	return cmd
}

// runInit runs o's command to its end and returns the exit code to exit
// with; its own failures are written to stderr.
func runInit(o initOptions, stderr io.Writer) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "moat kube init: %v\n", err)
		return code
	}
	// Signals are caught before the child starts: one sent between its
	// start and the handler's would otherwise end init, not the child.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD}, forwarded...)...)
	defer signal.Stop(sigs)
	if o.WaitGo != "" {
		if stop, err := waitGo(o, sigs); err != nil {
			return fail(exitInitFailed, err)
		} else if stop != 0 {
			return 128 + int(stop)
		}
	}
	if os.Getpid() != 1 {
		// Not a container's PID 1 (a test, a runtime's own init): become
		// the orphans' parent all the same, to reap them.
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	child, err := startChild(o)
	if err != nil {
		return fail(startFailureCode(err), err)
	}
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			syscall.Kill(child, sig.(syscall.Signal))
			continue
		}
		if status, ended := reap(child); ended {
			return exitCode(status)
		}
	}
	return exitInitFailed // not reached: sigs is never closed
}

// waitGo waits for the go-ahead file, or for a signal that stops the
// pod before it comes (which it returns).
func waitGo(o initOptions, sigs <-chan os.Signal) (stop syscall.Signal, err error) {
	deadline := time.Now().Add(o.WaitTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if _, err := os.Stat(o.WaitGo); err == nil {
			return 0, nil
		}
		if time.Now().After(deadline) {
			return 0, waitTimeoutError(o.WaitGo, o.WaitTimeout)
		}
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT:
				return sig.(syscall.Signal), nil
			}
		case <-tick.C:
		}
	}
}

// startChild starts o's command with init's environment, and with
// --stdin's file as its stdin, and returns its PID. It is never waited
// for by exec.Cmd: reap waits for every child at once.
func startChild(o initOptions) (int, error) {
	c := exec.Command(o.Argv[0], o.Argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if o.Stdin != "" {
		f, err := os.Open(o.Stdin)
		if err != nil {
			return 0, &stdinError{err}
		}
		defer f.Close()
		c.Stdin = f
	}
	if tty, ok := controllingTerminal(); ok {
		c.SysProcAttr = &syscall.SysProcAttr{Foreground: true, Ctty: tty}
	}
	if err := c.Start(); err != nil {
		return 0, err
	}
	return c.Process.Pid, nil
}

type stdinError struct{ error }

func (e *stdinError) Error() string { return "opening --stdin: " + e.error.Error() }

func startFailureCode(err error) int {
	var stdin *stdinError
	switch {
	case errors.As(err, &stdin):
		return exitInitFailed
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return exitNotFound
	}
	return exitCannotRun
}

// controllingTerminal returns init's stdin if it is init's controlling
// terminal, whose foreground process group the child is then given.
func controllingTerminal() (int, bool) {
	fd := int(os.Stdin.Fd())
	_, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return fd, err == nil
}

// reap collects every child that has ended and reports whether child is
// one of them, with its status.
func reap(child int) (status syscall.WaitStatus, ended bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return status, ended
		}
		if pid == child {
			status, ended = ws, true
		}
	}
}

// exitCode is a shell's code for a status: the exit code, or 128+N for
// a death by signal N.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
