// Package sidecar implements the hidden 'moat sidecar exec', the entrypoint
// moat gives sidecar containers whose daemon needs a little setup first
// (the BuildKit daemon's runc worker needs writable cgroups), so that any
// image of the daemon works without a moat-specific entrypoint.
package sidecar

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
)

// NewCmdSidecar builds the hidden 'sidecar' command group.
func NewCmdSidecar(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "sidecar",
		Short:  "Internal: entrypoint of a run's sidecar containers",
		Hidden: true,
	}
	var logFile string
	exec := &cobra.Command{
		Use:   "exec [--log FILE] -- command [args...]",
		Short: "Make /sys and the cgroup mounts writable, then execute the command",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if logFile != "" {
				if err := redirectOutput(logFile); err != nil {
					return err
				}
			}
			remountWritable()
			return execCommand(args)
		},
	}
	exec.Flags().StringVar(&logFile, "log", "", "send the command's output to `FILE` (kept when the container is gone)")
	cmd.AddCommand(exec)
	return cmd
}

// remountWritable makes /sys and each cgroup hierarchy writable, as a
// nested runc needs to create cgroups. The container has SYS_ADMIN for
// this; failures are left to the daemon to report.
func remountWritable() {
	dirs := []string{"/sys", "/sys/fs/cgroup"}
	if more, err := filepath.Glob("/sys/fs/cgroup/*"); err == nil {
		dirs = append(dirs, more...)
	}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		if syscall.Mount(d, d, "", syscall.MS_REMOUNT|syscall.MS_BIND, "") != nil {
			syscall.Mount("", d, "", syscall.MS_REMOUNT, "")
		}
	}
}

// redirectOutput points stdout and stderr at path, appending.
func redirectOutput(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}
	for _, fd := range []int{1, 2} {
		if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
			return fmt.Errorf("sidecar: redirecting output: %w", err)
		}
	}
	return f.Close()
}

func execCommand(args []string) error {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}
	err = syscall.Exec(path, args, os.Environ())
	return errors.Join(fmt.Errorf("sidecar: executing %s", path), err)
}
