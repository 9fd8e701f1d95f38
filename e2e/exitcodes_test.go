//go:build e2e

package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/testutil"
)

// TestDocumentedExitCodes runs every example of docs/runs.md's exit-code
// table through the binary, against a real engine, and compares its exit
// code with the one the docs give.
func TestDocumentedExitCodes(t *testing.T) {
	t.Parallel()
	needImage(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := testutil.DocumentedExitCodes(filepath.Join(root, "docs", "runs.md"))
	if err != nil {
		t.Fatal(err)
	}
	e := newMoat(t)
	ws := e.workspace(agentYAML(""))
	seen := 0
	for _, row := range rows {
		if len(row.Examples) == 0 {
			t.Errorf("exit code %s (%s) has no example to check", row.Code, row.Commands)
		}
		for _, ex := range row.Examples {
			argv := slices.Clone(ex.Argv)
			for i, a := range argv {
				if a == "./project" {
					argv[i] = ws
				}
			}
			if res := e.run(argv...); res.code != ex.Code {
				t.Errorf("moat %s: exit %d, docs/runs.md says %d:\n%s", strings.Join(ex.Argv, " "), res.code, ex.Code, res)
			}
			seen++
		}
	}
	if seen < 10 {
		t.Errorf("checked %d examples; the table has fewer than expected", seen)
	}
}
