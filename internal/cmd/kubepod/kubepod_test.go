package kubepod

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary run 'kube' with its arguments instead
// of the tests: the commands that exit (init) or block (keeper, a wait)
// are tested as the processes they are.
const helperEnv = "KUBEPOD_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(runKube(os.Args[2:])) // after "kube", there for 'kube stop' to find in PID 1's command line

	}
	os.Exit(m.Run())
}

// runKube runs 'kube ARGS' in this process and returns its exit code: 1
// for an error, as moat-sidecar's.
func runKube(args []string) int {
	cmd := NewCmdKube()
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	if err := cmd.Execute(); err != nil {
		return 1
	}
	return 0
}

// kubeProcess is 'kube ARGS' as a process of its own.
func kubeProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0], append([]string{"kube"}, args...)...)
	c.Env = append(os.Environ(), helperEnv+"=1")
	return c
}

// kube runs 'kube ARGS' in this process with stdin, returning stdout and
// the error.
func kube(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCmdKube()
	cmd.SetArgs(args)
	cmd.SetIn(bytes.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), err
}

func TestTarOutTarIn(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("content"), 0o640)
	os.Symlink("a/b/f", filepath.Join(src, "link"))
	archive, err := kube(t, nil, "tar-out", src)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	os.WriteFile(filepath.Join(dst, "deleted"), []byte("x"), 0o644)
	if _, err := kube(t, []byte(archive), "tar-in", dst, "--mirror"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "link")); err != nil || string(b) != "content" {
		t.Errorf("through the copied link: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "deleted")); err == nil {
		t.Error("--mirror kept a file the archive does not have")
	}
}

func TestTarInOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user takes root")
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	archive, err := kube(t, nil, "tar-out", src)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := kube(t, []byte(archive), "tar-in", dst, "--owner", "1234:5678"); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dst, "f"))
	if uid, gid := owner(fi); uid != 1234 || gid != 5678 {
		t.Errorf("f is owned by %d:%d, want 1234:5678", uid, gid)
	}
}

func TestTarInRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an owner that is not two numbers", []string{"tar-in", dir, "--owner", "root"}, `invalid --owner "root": want UID:GID, two numbers`},
		{"a negative owner", []string{"tar-in", dir, "--owner", "-1:0"}, `invalid --owner "-1:0": want UID:GID, two numbers`},
		{"both owner flags", []string{"tar-in", dir, "--owner", "1:1", "--keep-owners"}, "if any flags in the group [owner keep-owners] are set none of the others can be; [keep-owners owner] were all set"},
		{"no directory", []string{"tar-in"}, "accepts 1 arg(s), received 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kube(t, nil, tc.args...)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error %v, want %s", err, tc.want)
			}
		})
	}
}

// configMapMount makes a directory laid out as the kubelet mounts a
// ConfigMap: each key a link into "..data", itself a link to the current
// "..<timestamp>" directory.
func configMapMount(t *testing.T, keys map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_12_05_10_00_00.123456789")
	os.Mkdir(ts, 0o755)
	for k, v := range keys {
		os.WriteFile(filepath.Join(ts, k), []byte(v), 0o600)
		os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k))
	}
	os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data"))
	return dir
}

func TestSetupStagesSelfAndKeys(t *testing.T) {
	from := configMapMount(t, map[string]string{"agent.json": `{"a":1}`, "ca.pem": "PEM"})
	out := t.TempDir()
	self1, self2 := filepath.Join(out, "bin", "moat-sidecar"), filepath.Join(out, "other", "deeper", "moat")
	stage := filepath.Join(out, "stage")
	if _, err := kube(t, nil, "setup", "--self", self1, "--self", self2, "--from", from, "--stage", stage); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	want, _ := os.ReadFile(exe)
	for _, s := range []string{self1, self2} {
		b, err := os.ReadFile(s)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s is not a copy of this program (%v)", s, err)
		}
		if fi, _ := os.Stat(s); fi.Mode() != 0o755 {
			t.Errorf("%s: mode %v, want 0755", s, fi.Mode())
		}
	}
	entries, _ := os.ReadDir(stage)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, _ := e.Info()
		if fi.Mode() != 0o644 {
			t.Errorf("%s: mode %v, want a regular file of mode 0644", e.Name(), fi.Mode())
		}
	}
	if want := []string{"agent.json", "ca.pem"}; !slices.Equal(names, want) {
		t.Fatalf("staged %q, want only the keys %q", names, want)
	}
	if b, _ := os.ReadFile(filepath.Join(stage, "agent.json")); string(b) != `{"a":1}` {
		t.Errorf("agent.json holds %q", b)
	}
}

// TestSetupWaitsForDone: setup returns once 'kube done' has created the
// file, and fails with the reason when it does not come in time.
func TestSetupWaitsForDone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	goFile := filepath.Join(dir, "ctl", "copied")
	setup := kubeProcess(t, "setup", "--wait", goFile, "--timeout", "1m")
	var stderr bytes.Buffer
	setup.Stderr = &stderr
	if err := setup.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- setup.Wait() }()
	select {
	case err := <-ended:
		t.Fatalf("setup ended before 'kube done': %v\n%s", err, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := kube(t, nil, "done", goFile); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("setup: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		setup.Process.Kill()
		t.Fatal("setup still waits after 'kube done'")
	}

	_, err := kube(t, nil, "setup", "--wait", filepath.Join(dir, "never"), "--timeout", "100ms")
	if err == nil || !strings.Contains(err.Error(), "never did not appear within 100ms: moat did not say to go on") {
		t.Fatalf("got %v, want the timeout explained", err)
	}
}

func TestKeeperExitsZeroOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{"TERM", "INT"} {
		t.Run(sig, func(t *testing.T) {
			t.Parallel()
			k := kubeProcess(t, "keeper")
			if err := k.Start(); err != nil {
				t.Fatal(err)
			}
			ended := make(chan error, 1)
			go func() { ended <- k.Wait() }()
			select {
			case err := <-ended:
				t.Fatalf("the keeper ended by itself: %v", err)
			case <-time.After(500 * time.Millisecond):
			}
			k.Process.Signal(signalNamed(sig))
			select {
			case err := <-ended:
				if err != nil {
					t.Fatalf("the keeper ended with %v after SIG%s, want exit 0", err, sig)
				}
			case <-time.After(30 * time.Second):
				k.Process.Kill()
				t.Fatalf("the keeper did not end on SIG%s", sig)
			}
		})
	}
}
