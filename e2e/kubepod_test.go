//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/podfs"
)

// kubePodImage is the image the pod helpers are tried in: a Debian with
// a shell, as an agent's image is.
const kubePodImage = "debian:bookworm-slim"

// kubePodContainer returns the docker run arguments of a container with
// the static moat-sidecar mounted where a pod has it, labelled for the
// test; the test's cleanup removes it and checks that none is left.
func kubePodContainer(t *testing.T) []string {
	t.Helper()
	label := "moat.e2e=" + uniqueName(t)
	t.Cleanup(func() {
		for _, id := range dockerIDs(t, "ps", "-aq", "--filter", "label="+label) {
			docker(t, "rm", "-f", id)
		}
		if left := dockerIDs(t, "ps", "-aq", "--filter", "label="+label); len(left) > 0 {
			t.Errorf("containers left behind: %v", left)
		}
	})
	return []string{"--label", label, "-v", moatBin + "-sidecar:/moat/bin/moat-sidecar:ro"}
}

// TestKubeInitOnAnEngine: 'kube init' as a real container's PID 1 passes
// 'docker stop's SIGTERM to its command, which traps it, and exits with
// the command's status.
func TestKubeInitOnAnEngine(t *testing.T) {
	t.Parallel()
	args := append([]string{"run", "-d"}, kubePodContainer(t)...)
	args = append(args, kubePodImage, "/moat/bin/moat-sidecar", "kube", "init", "--",
		"sh", "-c", `trap "exit 7" TERM; echo trapping; sleep 100 & wait`)
	id, err := docker(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the command to set its trap", func() bool {
		out, _ := docker(t, "logs", id)
		return strings.Contains(out, "trapping")
	})
	// init is PID 1 and the command its child, not exec'd in its place.
	if comm, err := docker(t, "exec", id, "cat", "/proc/1/comm"); err != nil || comm != "moat-sidecar" {
		t.Fatalf("PID 1 is %q (%v), want moat-sidecar", comm, err)
	}
	start := time.Now()
	if _, err := docker(t, "stop", "-t", "60", id); err != nil {
		t.Fatal(err)
	}
	code, err := docker(t, "inspect", "--format", "{{.State.ExitCode}}", id)
	if err != nil {
		t.Fatal(err)
	}
	if code != "7" {
		t.Fatalf("the container exited %s, want 7 (the command's trap); logs:\n%s", code, must(docker(t, "logs", id)))
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("docker stop took %v: the SIGTERM did not reach the command, which the engine killed", d)
	}
}

// TestKubeTarOutToHost: a tree made in a container, with a symlink, a
// set-user-ID file and a FIFO, comes out through 'kube tar-out' and the
// host's Unpack as the same tree without the FIFO or the set-ID bit.
func TestKubeTarOutToHost(t *testing.T) {
	t.Parallel()
	script := `set -e; mkdir -p /w/src/sub; echo hello > /w/src/sub/f; chmod 4755 /w/src/sub/f; ` +
		`ln -s sub/f /w/src/link; ln -s /etc /w/src/etc-link; mkfifo /w/src/fifo; ` +
		`exec /moat/bin/moat-sidecar kube tar-out /w/src`
	args := append([]string{"run", "--rm", "-i"}, kubePodContainer(t)...)
	cmd := exec.Command("docker", append(args, kubePodImage, "sh", "-c", script)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	unpackErr := podfs.Unpack(stdout, dst, podfs.UnpackOptions{Mirror: true})
	if err := cmd.Wait(); err != nil || unpackErr != nil {
		t.Fatalf("tar-out: %v, unpack: %v; stderr:\n%s", err, unpackErr, stderr.String())
	}
	var got []string
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dst {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		info, _ := d.Info()
		got = append(got, rel+" "+info.Mode().String())
		return nil
	})
	want := []string{"etc-link Lrwxrwxrwx", "link Lrwxrwxrwx", "sub drwxr-xr-x", "sub/f -rwxr-xr-x"}
	if !slices.Equal(got, want) {
		t.Fatalf("unpacked %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "link")); err != nil || string(b) != "hello\n" {
		t.Errorf("through the link: %q, %v", b, err)
	}
	if target, _ := os.Readlink(filepath.Join(dst, "etc-link")); target != "/etc" {
		t.Errorf("etc-link points at %q, want /etc (kept as a link, never followed)", target)
	}
}

func must(s string, _ error) string { return s }
