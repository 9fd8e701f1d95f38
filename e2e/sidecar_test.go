//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// inspected is the part of 'docker inspect' the privilege checks read.
type inspected struct {
	ID         string
	Config     struct{ User string }
	HostConfig struct {
		CapAdd, CapDrop, SecurityOpt, Binds, MaskedPaths, ReadonlyPaths []string
		Privileged, ReadonlyRootfs                                      bool
		NetworkMode, PidMode, UsernsMode                                string
		Devices                                                         []json.RawMessage
	}
	Mounts []struct {
		Type, Name, Source, Destination string
		RW                              bool
	}
}

// inspectRole inspects the one container of run runID with role.
func inspectRole(t *testing.T, runID, role string) inspected {
	t.Helper()
	ids := dockerIDs(t, "ps", "-q", "--filter", "label=moat.run-id="+runID, "--filter", "label=moat.role="+role)
	if len(ids) != 1 {
		t.Fatalf("run %s has %s containers %v, want one", runID, role, ids)
	}
	out, err := docker(t, "inspect", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	var c []inspected
	if err := json.Unmarshal([]byte(out), &c); err != nil || len(c) != 1 {
		t.Fatalf("docker inspect %s: %v\n%s", ids[0], err, out)
	}
	return c[0]
}

// mountSet is a container's mounts as "type source:destination:rw|ro",
// sorted (volumes by name).
func (c inspected) mountSet() []string {
	var out []string
	for _, m := range c.Mounts {
		src, mode := m.Source, "ro"
		if m.Type == "volume" {
			src = m.Name
		}
		if m.RW {
			mode = "rw"
		}
		out = append(out, fmt.Sprintf("%s %s:%s:%s", m.Type, src, m.Destination, mode))
	}
	slices.Sort(out)
	return out
}

// TestSidecarPrivileges checks, on the real containers of a running
// docker:dind run started by a regular user, what the engine applied to
// the two sidecars: the proxy runs as that user with no capability, no new
// privileges and a read-only root, in the host's network namespace, and
// mounts only moat's binary and the CA (read-only) and its run directory;
// the BuildKit daemon has its explicit capability list (not privileged),
// joins the agent's namespaces and mounts only its state volume: no host
// directory, no socket.
func TestSidecarPrivileges(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e, ws, uid, gid := newMoatAsUser(t, agentYAML("docker:dind"))
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sleep", "300")
	r := e.waitState(name, "running")
	t.Cleanup(func() { e.run("stop", name) })

	p := inspectRole(t, r.ID, "proxy")
	if want := fmt.Sprintf("%d:%d", uid, gid); p.Config.User != want || uid == 0 {
		t.Errorf("proxy user %q, want %s (the invoking user, not root)", p.Config.User, want)
	}
	hc := p.HostConfig
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || len(hc.CapAdd) != 0 || hc.Privileged {
		t.Errorf("proxy capabilities: drop %v, add %v, privileged %v; want drop [ALL], add none", hc.CapDrop, hc.CapAdd, hc.Privileged)
	}
	if !hc.ReadonlyRootfs || !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges:true"}) {
		t.Errorf("proxy: read-only root %v, security options %v; want true and [no-new-privileges:true]", hc.ReadonlyRootfs, hc.SecurityOpt)
	}
	if hc.NetworkMode != "host" || hc.PidMode != "" || hc.UsernsMode != "" || len(hc.Devices) != 0 {
		t.Errorf("proxy namespaces: network %q, pid %q, userns %q, devices %d; want host, the container's own, none",
			hc.NetworkMode, hc.PidMode, hc.UsernsMode, len(hc.Devices))
	}
	runDir := filepath.Join(e.runsDir(), r.ID)
	wantMounts := []string{
		"bind " + filepath.Join(runDir, "proxy") + ":/moat-proxy:rw",
	}
	var binSrc string
	for _, m := range p.Mounts {
		if m.Destination == "/moat" {
			binSrc = m.Source
			wantMounts = append(wantMounts, "bind "+m.Source+":/moat:ro")
		}
	}
	slices.Sort(wantMounts)
	if got := p.mountSet(); !slices.Equal(got, wantMounts) {
		t.Errorf("proxy mounts:\n%v\nwant:\n%v", got, wantMounts)
	}
	if fi, err := os.Stat(binSrc); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the proxy's /moat comes from %q (%v), want moat's binary", binSrc, err)
	}

	b := inspectRole(t, r.ID, "buildkit")
	hc = b.HostConfig
	wantCaps := []string{"CAP_CHOWN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN"}
	gotCaps := slices.Sorted(slices.Values(hc.CapAdd))
	if hc.Privileged || !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(gotCaps, wantCaps) {
		t.Errorf("BuildKit sidecar: privileged %v, drop %v, add %v; want not privileged, drop [ALL], add %v", hc.Privileged, hc.CapDrop, gotCaps, wantCaps)
	}
	agent := "container:" + r.ContainerID
	if hc.NetworkMode != agent || hc.PidMode != agent || len(hc.Devices) != 0 || len(hc.Binds) != 0 {
		t.Errorf("BuildKit sidecar: network %q, pid %q, devices %d, binds %v; want the agent's namespaces, no device, no bind",
			hc.NetworkMode, hc.PidMode, len(hc.Devices), hc.Binds)
	}
	if got, want := b.mountSet(), []string{"volume moat-buildkit-" + r.ID + ":/var/lib/buildkit:rw"}; !slices.Equal(got, want) {
		t.Errorf("BuildKit sidecar mounts %v, want only its state volume %v", got, want)
	}
}
