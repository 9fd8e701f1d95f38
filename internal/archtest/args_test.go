package archtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cobraArgs are cobra's argument-count checks, whose errors are cobra's
// words ("accepts 1 arg(s), received 0"): moat's commands use cmdutil's.
var cobraArgs = regexp.MustCompile(`\bcobra\.(ExactArgs|MinimumNArgs|MaximumNArgs|RangeArgs|NoArgs|ExactValidArgs)\b`)

// TestCommandsUseMoatsArgChecks: every user-facing command checks its
// argument count with cmdutil's NoArgs, ExactArgs and the like. The
// commands that run inside a run's containers (inContainer in
// deps_test.go) may not import cmdutil and keep cobra's.
func TestCommandsUseMoatsArgChecks(t *testing.T) {
	root := moduleRoot(t)
	var found []string
	err := filepath.WalkDir(filepath.Join(root, "internal", "cmd"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if _, noCmdutil := forbidden[filepath.ToSlash(filepath.Dir(rel))]["internal/cmdutil"]; noCmdutil {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			if m := cobraArgs.FindString(line); m != "" {
				found = append(found, rel+":"+strconv.Itoa(i+1)+": "+m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s: use cmdutil's check of the same name, which words the error as moat does", f)
	}
}
