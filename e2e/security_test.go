//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestAgentCannotGainPrivileges checks the documented claim that the agent
// runs with no capabilities and cannot regain any: it tries the usual ways
// (setuid root, chown, writing system files, mounting, raw sockets) and
// every one must fail.
func TestAgentCannotGainPrivileges(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	// Each probe prints OK only if the attempt succeeded.
	probe := strings.Join([]string{
		`grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status`,
		`echo uid=$(id -u)`,
		`cp /bin/sh /tmp/rootsh && chmod u+s /tmp/rootsh && /tmp/rootsh -c 'test "$(id -u)" = 0' && echo ESCALATED-setuid`,
		`chown 0:0 /workspace/agent.yaml 2>/dev/null && echo ESCALATED-chown`,
		`echo x >>/etc/passwd 2>/dev/null && echo ESCALATED-passwd`,
		`mount -t tmpfs none /mnt 2>/dev/null && echo ESCALATED-mount`,
		`setpriv --reuid=0 true 2>/dev/null && echo ESCALATED-setpriv`,
		`echo done`,
	}, "; ")
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", probe)
	mustContain(t, "stdout", res.stdout,
		"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "done")
	if strings.Contains(res.stdout, "ESCALATED") {
		t.Errorf("the agent gained a privilege:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "uid=0\n") {
		t.Errorf("the agent ran as uid 0:\n%s", res.stdout)
	}
}

// TestContainerKeepsOnlyInitCapabilities checks the engine-level limit:
// even PID 1's root (moat-init) holds only the few capabilities it needs.
func TestContainerKeepsOnlyInitCapabilities(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "--keep", "-n", name, ws, "--", "sleep", "60")
	r := e.waitState(name, "running")
	out, err := docker(t, "inspect", "-f", "{{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.Privileged}}", r.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	want := `["ALL"] ["CAP_CHOWN","CAP_KILL","CAP_SETGID","CAP_SETPCAP","CAP_SETUID"] ["no-new-privileges:true"] false`
	if out != want {
		t.Errorf("container privileges: got %s, want %s", out, want)
	}
	e.mustRun(0, "stop", name)
	e.mustRun(0, "destroy", name)
}
