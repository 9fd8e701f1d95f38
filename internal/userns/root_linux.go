//go:build linux

package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// Linux constants syscall lacks.
const (
	prSetDumpable     = 4
	prSetKeepCaps     = 8
	prCapBSetDrop     = 24
	prCapAmbient      = 47
	prCapAmbientRaise = 2
	capSetGID         = 6
	capSetUID         = 7
	capV3             = 0x20080522
)

// FromRoot is what a container's root process (Setup set) does before Run,
// in the order a sidecar needs it, and then starts Run in a new process
// image: it gives the Own directories to UID:GID, enters a private mount
// namespace in which it mounts a fresh proc and a read-only sysfs under
// Setup (the kernel lets the user namespace mount proc and sysfs for its
// own containers only where fully visible ones are mounted, and the
// container's own keep Docker's masks), becomes UID:GID keeping only
// CAP_SETUID and CAP_SETGID (every other capability leaves the bounding
// set), and goes on with Run in this process: its thread, locked, is in
// the private mount namespace, and the command is started from it (a
// second process image would cost the run's start another start of
// moat). It needs CAP_CHOWN, CAP_SYS_ADMIN, CAP_SETPCAP, CAP_SETUID and
// CAP_SETGID.
func FromRoot(o Options, argv []string) (int, error) {
	if err := o.Validate(); err != nil {
		return 125, err
	}
	if os.Geteuid() != 0 {
		return 125, fmt.Errorf("preparing the namespace needs root, not uid %d", os.Geteuid())
	}
	if err := fromRoot(o); err != nil {
		return 125, err
	}
	return Run(o, argv)
}

func fromRoot(o Options) error {
	for _, d := range o.Own {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chown(d, o.UID, o.GID); err != nil {
			return fmt.Errorf("giving %s to %d:%d: %w", d, o.UID, o.GID, err)
		}
	}
	for _, f := range o.Files {
		if !slices.ContainsFunc(o.Own, func(d string) bool { return filepath.Dir(f.Path) == filepath.Clean(d) }) {
			return fmt.Errorf("writing %s: it must be in a directory given with --own", f.Path)
		}
		if err := os.WriteFile(f.Path, []byte(os.Getenv(f.Var)), 0o644); err != nil {
			return fmt.Errorf("writing %s from $%s: %w", f.Path, f.Var, err)
		}
	}
	// The mount namespace is the thread's: the goroutine stays on it (never
	// unlocked), and the command Run starts is forked from it.
	runtime.LockOSThread()
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return fmt.Errorf("entering a private mount namespace: %w", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mount namespace private: %w", err)
	}
	procDir, sysDir := filepath.Join(o.Setup, "proc"), filepath.Join(o.Setup, "sys")
	for _, d := range []string{procDir, sysDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	const flags = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC
	if err := syscall.Mount("proc", procDir, "proc", flags, ""); err != nil {
		return fmt.Errorf("mounting a proc for the namespace: %w", err)
	}
	if err := syscall.Mount("sysfs", sysDir, "sysfs", flags|syscall.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mounting a sysfs for the namespace: %w", err)
	}
	if err := becomeUser(o.UID, o.GID); err != nil {
		return err
	}
	// Changing user made the process non-dumpable, which makes its
	// /proc files (and its children's, the uid_map Run writes) root's:
	// dumpable again, as an exec of moat would have made it. The agent's
	// user cannot trace it while it holds capabilities the agent lacks.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 1, 0); e != 0 {
		return fmt.Errorf("making the process dumpable: %w", e)
	}
	return nil
}

// becomeUser makes every thread uid:gid with no supplementary group,
// holding only CAP_SETUID and CAP_SETGID (effective, permitted and
// ambient), and removes every other capability from the bounding set.
func becomeUser(uid, gid int) error {
	last := 63
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	all := func(what string, trap uintptr, a ...uintptr) error {
		a = append(a, 0, 0, 0)
		if _, _, e := syscall.AllThreadsSyscall(trap, a[0], a[1], a[2]); e != 0 {
			return fmt.Errorf("%s: %w", what, e)
		}
		return nil
	}
	for c := 0; c <= last; c++ {
		if c == capSetUID || c == capSetGID {
			continue
		}
		if err := all("dropping capability "+strconv.Itoa(c)+" from the bounding set", syscall.SYS_PRCTL, prCapBSetDrop, uintptr(c)); err != nil && !errors.Is(err, syscall.EINVAL) {
			return err
		}
	}
	if err := all("keeping the capabilities across the change of user", syscall.SYS_PRCTL, prSetKeepCaps, 1); err != nil {
		return err
	}
	if err := all("clearing the supplementary groups", syscall.SYS_SETGROUPS, 0, 0); err != nil {
		return err
	}
	if err := all("becoming gid "+strconv.Itoa(gid), syscall.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); err != nil {
		return err
	}
	if err := all("becoming uid "+strconv.Itoa(uid), syscall.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); err != nil {
		return err
	}
	hdr := struct {
		version uint32
		pid     int32
	}{capV3, 0}
	const keep = 1<<capSetUID | 1<<capSetGID
	data := [2]struct{ eff, perm, inh uint32 }{{keep, keep, keep}}
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("keeping CAP_SETUID and CAP_SETGID: %w", e)
	}
	for _, c := range []uintptr{capSetUID, capSetGID} {
		if err := all("making the capability ambient", syscall.SYS_PRCTL, prCapAmbient, prCapAmbientRaise, c); err != nil {
			return err
		}
	}
	return nil
}
