//go:build linux

package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"unsafe"
)

// cloneFlags are the namespaces the command gets.
func (o Options) cloneFlags() uintptr {
	f := uintptr(syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS)
	if o.Slirp {
		f |= syscall.CLONE_NEWNET
	}
	return f
}

// Run starts argv in the namespace, passes signals on, and returns its exit
// status once it ends.
func Run(o Options, argv []string) (int, error) {
	if err := o.Validate(); err != nil {
		return 125, err
	}
	if len(argv) == 0 {
		return 125, errors.New("no command given")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: o.cloneFlags(),
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: o.UID, Size: 1},
			{ContainerID: 1, HostID: o.SubStart, Size: o.SubCount}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: o.GID, Size: 1},
			{ContainerID: 1, HostID: o.SubStart, Size: o.SubCount}},
		GidMappingsEnableSetgroups: true,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return 125, fmt.Errorf("starting %s in a user namespace: %w", argv[0], err)
	}
	if err := dropPrivileges(); err != nil {
		cmd.Process.Kill()
		return 125, err
	}
	var slirp *exec.Cmd
	if o.Slirp {
		ns := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/"
		args := []string{"--configure", "--mtu=65520", "--enable-seccomp"}
		if o.SlirpAPI != "" {
			args = append(args, "--api-socket="+o.SlirpAPI)
		}
		slirp = exec.Command("slirp4netns", append(args, "--userns-path="+ns+"user", "--netns-type=path", ns+"net", "tap0")...)
		slirp.Stdout, slirp.Stderr = os.Stderr, os.Stderr
		slirp.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := slirp.Start(); err != nil {
			cmd.Process.Kill()
			return 125, fmt.Errorf("starting slirp4netns for the namespace's network: %w", err)
		}
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for s := range sig {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	if slirp != nil {
		slirp.Process.Kill()
		slirp.Wait()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 125, err
	}
	return 0, nil
}

// dropPrivileges clears every capability set, the ambient one included, of
// every thread, and sets no_new_privs: this process lives in the mount
// namespace that holds the unmasked proc, so nothing may make it host root
// again.
func dropPrivileges() error {
	const (
		prCapAmbientClearAll = 4
		prSetNoNewPrivs      = 38
	)
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, prCapAmbient, prCapAmbientClearAll, 0); e != 0 {
		return fmt.Errorf("clearing the ambient capabilities: %w", e)
	}
	hdr := struct {
		version uint32
		pid     int32
	}{capV3, 0}
	var data [2]struct{ eff, perm, inh uint32 }
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("dropping the capabilities: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
		return fmt.Errorf("setting no_new_privs: %w", e)
	}
	return nil
}
