package archtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testHookPrefix starts the name of every environment variable that only
// tests may set (MOAT_TEST_DIND_ARGS breaks the nested daemon on purpose).
const testHookPrefix = "MOAT_TEST_"

// testHookTag is the build tag that compiles the hooks in; e2e/ builds
// moat with it, 'make build' and releases do not.
const testHookTag = "moattest"

var buildTagLine = regexp.MustCompile(`(?m)^//go:build (.+)$`)

// TestTestHooksNeedTheBuildTag checks that every non-test Go file that
// names a test hook is compiled only with the moattest build tag.
func TestTestHooksNeedTheBuildTag(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	inBinary := binaryPackageDirs(t)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if !inBinary[filepath.Dir(path)] {
			return nil // test helpers (internal/testutil) never reach the binary
		}
		src, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(src, []byte(testHookPrefix)) {
			return err
		}
		m := buildTagLine.FindSubmatch(src)
		if m == nil || strings.TrimSpace(string(m[1])) != testHookTag {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s names a %s* test hook but is built without '//go:build %s'", rel, testHookPrefix, testHookTag)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProductionBinaryHasNoTestHooks builds moat as 'make build' does and
// checks that no test hook's name is in it, so the variables cannot reach
// it; built with the tag, the hook is there (the check can fail).
func TestProductionBinaryHasNoTestHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds moat twice")
	}
	t.Parallel()
	for _, tc := range []struct {
		tags string
		want bool
	}{{"", false}, {testHookTag, true}} {
		bin := filepath.Join(t.TempDir(), "moat")
		cmd := exec.Command("go", "build", "-tags", tc.tags, "-o", bin, "./cmd/moat")
		cmd.Dir = moduleRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags %q: %v\n%s", tc.tags, err, out)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(data, []byte(testHookPrefix+"DIND_ARGS")); got != tc.want {
			t.Errorf("built with tags %q: %sDIND_ARGS in the binary is %v, want %v", tc.tags, testHookPrefix, got, tc.want)
		}
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// binaryPackageDirs returns the directories of the packages the moat
// binary is built from, whatever the build tags.
func binaryPackageDirs(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-tags", testHookTag, "-f", "{{.Dir}}", module+"cmd/moat").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dirs := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		dirs[d] = true
	}
	return dirs
}
