package root

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestHelpGolden pins the help of every command, so a change to flags or
// wording shows up in review as a diff of testdata/help/*.golden.
func TestHelpGolden(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	root := NewCmdRoot(&cmdutil.Factory{IOStreams: ios, Version: "test"})
	var paths [][]string
	paths = append(paths, nil)
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		paths = append(paths, []string{c.Name()})
		for _, sub := range c.Commands() {
			paths = append(paths, []string{c.Name(), sub.Name()})
		}
	}
	for _, p := range paths {
		name := "moat"
		if len(p) > 0 {
			name = "moat-" + strings.Join(p, "-")
		}
		t.Run(name, func(t *testing.T) {
			ios, _, out, _ := iostreams.Test()
			f := &cmdutil.Factory{IOStreams: ios, Version: "test"}
			if code := Main(f, append(p, "--help")); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			golden := filepath.Join("testdata", "help", name+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("help differs from %s (run with -update and review the diff):\n%s", golden, out.String())
			}
		})
	}
}
