//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// socketGroupWithoutName is a GID no group has, on the host or in images.
const socketGroupWithoutName = 4242

// TestDockerHost runs the docker CLI as the unprivileged agent against the
// host engine, reached through a socket at a non-default path (as with
// rootless Docker) whose group has no name in the image.
func TestDockerHost(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:host")
	e := newMoat(t)
	sock := socketProxy(t, "/var/run/docker.sock", socketGroupWithoutName)
	e.env = append(e.env, "DOCKER_HOST=unix://"+sock)
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [docker:host]\n", "marker.txt": "from-the-workspace\n"})

	// Under the default strict policy docker:host is refused: through the
	// host's engine the agent could leave the network policy behind.
	res := e.mustRun(125, "run", ws, "--", "true")
	mustContain(t, "stderr", res.stderr, "can bypass network.policy strict", "host_bypasses_egress")
	if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte("dependencies: [docker:host]\ndocker: {host_bypasses_egress: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.trust(ws)

	// A container the test starts on the host, which the agent must see.
	hostName := uniqueName(t)
	if _, err := docker(t, "run", "-d", "--name", hostName, "--label", "moat-e2e=docker-host", baseImage, "sleep", "300"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker(t, "rm", "-f", hostName) })

	name := uniqueName(t)
	res = e.mustRun(0, "run", "-n", name, ws, "--", "sh", "-c",
		`id; echo "pwd=$PWD"; docker ps --format '{{.Names}}'; docker run --rm -v "$PWD":/src `+baseImage+` cat /src/marker.txt`)
	mustContain(t, "stdout", res.stdout, hostName, "from-the-workspace", "4242(docker-host)", "pwd="+ws)
	if strings.Contains(res.stdout, "uid=0(") {
		t.Errorf("the agent ran as root:\n%s", res.stdout)
	}
	mustContain(t, "stderr", res.stderr, "full control of the host's Docker engine")

	r := e.find(name)
	raw, err := os.ReadFile(filepath.Join(e.runsDir(), r.ID, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Privileges []struct{ What, Reason string }
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if len(meta.Privileges) != 1 || meta.Privileges[0].Reason != "docker:host" || !strings.Contains(meta.Privileges[0].What, sock) {
		t.Errorf("run metadata privileges: got %+v, want the host socket with reason docker:host", meta.Privileges)
	}
}

// socketProxy listens on a fresh unix socket owned by root:gid (mode 0660)
// and forwards every connection to target, byte for byte.
func socketProxy(t *testing.T, target string, gid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "moat-e2e-sock-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 0, gid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o660)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		os.RemoveAll(dir)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				forward(c, target)
			}()
		}
	}()
	return path
}

func forward(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("unix", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}
