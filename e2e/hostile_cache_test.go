//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileDindCache: the agent of one docker:dind run with docker.cache
// plants behaviour in the cache for the next run: a container with
// --restart=always that writes into the workspace, a volume, a network and
// a retagged base image. At the next run none of it is there: the daemon
// starts from image content only (the image itself is kept, untagged).
func TestHostileDindCache(t *testing.T) {
	t.Parallel()
	needImage(t, "docker:dind")
	e := newMoat(t)
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [docker:dind]\ndocker: {cache: true}\n"})
	writeRootfs(t, filepath.Join(ws, "rootfs.tar"))
	os.Chmod(ws, 0o777) // the agent (uid 1000) writes the image ID there
	t.Cleanup(func() { removeCacheVolumes(t, ws) })
	plant := `set -e
docker import rootfs.tar implant:1 >/dev/null
docker image inspect --format '{{.Id}}' implant:1 >image-id
docker run -d --restart=always --name implant -v /workspace:/w implant:1 sh -c 'while :; do echo x >>/w/marker; sleep 1; done' >/dev/null
docker volume create implantvol >/dev/null
docker network create implantnet >/dev/null
docker tag implant:1 debian:bookworm-slim
while [ ! -s marker ]; do sleep 0.2; done
echo planted`
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", plant)
	mustContain(t, "stdout", res.stdout, "planted")
	if err := os.Remove(filepath.Join(ws, "marker")); err != nil {
		t.Fatal(err)
	}
	look := `sleep 3
echo "containers: $(docker ps -a --format '{{.Names}}' | tr '\n' ' ')"
echo "volumes: $(docker volume ls -q | tr '\n' ' ')"
echo "networks: $(docker network ls --format '{{.Name}}' | tr '\n' ' ')"
echo "tags: $(docker images --format '{{.Repository}}:{{.Tag}}' | tr '\n' ' ')"
docker image inspect --format 'kept {{.Id}}' "$(cat image-id)"`
	res = e.mustRun(0, "run", ws, "--", "sh", "-c", look)
	out := res.stdout
	for _, planted := range []string{"implant ", "implantvol", "implantnet", "debian:bookworm-slim", "implant:1"} {
		if strings.Contains(out, planted) {
			t.Errorf("%q carried over into the next run:\n%s", planted, out)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "marker")); err == nil {
		t.Errorf("the planted container ran again in the next run: it wrote the marker")
	}
	id, _ := os.ReadFile(filepath.Join(ws, "image-id"))
	mustContain(t, "stdout", out, "kept "+strings.TrimSpace(string(id)))
}

// removeCacheVolumes removes a workspace's cache volumes (by label: the
// test must not run 'moat clean', which works engine-wide).
func removeCacheVolumes(t *testing.T, ws string) {
	for _, role := range []string{"dind-cache", "buildkit-cache"} {
		for _, v := range dockerIDs(t, "volume", "ls", "-q", "--filter", "label=moat.role="+role, "--filter", "label=moat.workspace="+ws) {
			docker(t, "volume", "rm", "-f", v)
		}
	}
}
