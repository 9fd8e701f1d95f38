//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildOutputOnAPipe: a build on a pipe prints a line per step; a
// failing RUN step is reported once, with its own output, without escape
// codes or builder lines, and a failed build of moat's Dockerfile is kept
// in the moat home. 'moat build' then 'moat run' reuses the image, and a
// run started from a subdirectory finds the workspace upward.
func TestBuildOutputOnAPipe(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	mark := strings.ToLower(uniqueName(t))
	ws := e.workspace(map[string]string{
		"agent.yaml": "dockerfile: Dockerfile\n",
		"Dockerfile": "FROM " + baseImage + "\nRUN printf '\\033[31mred-" + mark + "\\033[0m\\n'\n" +
			"RUN echo about-to-fail-" + mark + " && false\n",
		"src/pkg/.keep": "",
	})
	res := e.run("build", ws)
	if res.code != 1 {
		t.Fatalf("a failing build: exit %d, want 1:\n%s", res.code, res)
	}
	mustContain(t, "stderr", res.stderr, "  Step 2/", "  Step 3/", "the command exited with code 1", "  about-to-fail-"+mark)
	errText := res.stderr[strings.Index(res.stderr, "moat: "):]
	if n := strings.Count(errText, "echo about-to-fail-"+mark); n != 1 {
		t.Errorf("the failing RUN line is in the error %d times, want once:\n%s", n, errText)
	}
	for _, noise := range []string{"\x1b", "Running in", "Removing intermediate", "returned a non-zero code"} {
		if strings.Contains(res.stderr, noise) {
			t.Errorf("stderr holds %q:\n%s", noise, res.stderr)
		}
	}

	// The fixed Dockerfile: built ahead, then the run reuses it, from a
	// subdirectory of the workspace.
	os.WriteFile(filepath.Join(ws, "Dockerfile"), []byte("FROM "+baseImage+"\nRUN echo built-"+mark+" > /etc/built\n"), 0o644)
	e.trust(ws)
	res = e.mustRun(0, "build", ws)
	if tag := strings.TrimSpace(res.stdout); !strings.HasPrefix(tag, "moat/run:") {
		t.Fatalf("moat build printed %q, want the run image's tag:\n%s", res.stdout, res)
	}
	cmd := e.command(context.Background(), "run", "--", "sh", "-c", "cat /etc/built; pwd")
	cmd.Dir = filepath.Join(ws, "src", "pkg")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run from a subdirectory: %v\n%s", err, out)
	}
	mustContain(t, "output", string(out), "Using the workspace "+ws, "built-"+mark, "/workspace\n")
	if strings.Contains(string(out), "Building image") {
		t.Errorf("the run built again after moat build:\n%s", out)
	}
}

// TestFailedBuildKeepsDockerfile: a dependency whose install fails keeps
// moat's Dockerfile in the moat home, and the error says where.
func TestFailedBuildKeepsDockerfile(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	pkg := "moat-no-such-package-" + strings.ToLower(uniqueName(t))
	ws := e.workspace(map[string]string{"agent.yaml": "dependencies: [apt:" + pkg + "]\n"})
	res := e.run("build", ws)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.code, res)
	}
	i := strings.Index(res.stderr, "The Dockerfile that failed is kept in ")
	if i < 0 {
		t.Fatalf("the error does not say where the Dockerfile is:\n%s", res)
	}
	path := strings.TrimSpace(strings.SplitN(res.stderr[i+len("The Dockerfile that failed is kept in "):], "\n", 2)[0])
	df, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(df), pkg) || !strings.HasPrefix(path, e.home) {
		t.Fatalf("kept Dockerfile %s: %v\n%s", path, err, df)
	}
	mustContain(t, "stderr", res.stderr, "Unable to locate package "+pkg)
}
