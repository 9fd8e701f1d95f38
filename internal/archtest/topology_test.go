package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The orchestrator says what a run needs (no network, a sidecar that
// dials out for the agent, a directory shared by containers, another
// container's namespaces); the runtime adapters say how. These are the
// words of the Docker adapter's "how", which internal/run must not use.
var (
	// namespaceFields are spec fields that take an engine's mode strings.
	namespaceFields = []string{"Network", "NetworkMode", "PidMode", "IpcMode", "UsernsMode"}
	// dockerModes are Docker's network, PID and IPC mode names.
	dockerModes = []string{"host", "none", "bridge", "default", "private", "shareable"}
	// engineCommands are the Docker CLI's commands, which hints name
	// through the adapter (StatusCommand, ProvideImageRemedy).
	engineCommands = []string{"docker info", "docker pull", "docker load"}
)

// topologyViolations lists where a Go file speaks in Docker's topology:
// a "container:ID" namespace, a Docker mode string given to a namespace
// field, or a Docker CLI command in a message.
func topologyViolations(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what)
	}
	modeValue := func(key, value ast.Expr) {
		name := ""
		switch k := key.(type) {
		case *ast.Ident:
			name = k.Name
		case *ast.SelectorExpr:
			name = k.Sel.Name
		}
		if lit, ok := value.(*ast.BasicLit); ok && slices.Contains(namespaceFields, name) {
			if s, err := strconv.Unquote(lit.Value); err == nil && slices.Contains(dockerModes, s) {
				report(lit, name+" set to Docker's mode "+lit.Value)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(n.Value)
			if n.Kind != token.STRING || err != nil {
				return true
			}
			if strings.HasPrefix(s, "container:") {
				report(n, `Docker's "container:ID" namespace mode`)
			}
			for _, c := range engineCommands {
				if strings.Contains(s, c) {
					report(n, "the engine's command '"+c+"' (the adapter words hints about its engine)")
				}
			}
		case *ast.KeyValueExpr:
			modeValue(n.Key, n.Value)
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				if i < len(n.Rhs) {
					modeValue(lhs, n.Rhs[i])
				}
			}
		}
		return true
	})
	return out
}

// TestOrchestratorSaysWhatNotHow fails if internal/run's non-test Go files
// use Docker's topology: that is the runtime adapter's to map, so that a
// cluster adapter can map the same requests to pods.
func TestOrchestratorSaysWhatNotHow(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(moduleRoot(t), "internal", "run")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, filepath.Base(path), src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, v := range topologyViolations(fset, f) {
			t.Errorf("internal/run/%s; say what the run needs with internal/runtime's intents", v)
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files in %s: not the orchestrator", checked, dir)
	}
}

// TestTopologyViolationsAreFound shows that the check finds each kind.
func TestTopologyViolationsAreFound(t *testing.T) {
	t.Parallel()
	src := `package run
func f(id string) {
	spec := runtime.ContainerSpec{Network: "host", PidMode: "container:" + id}
	spec.NetworkMode = "none"
	_ = "Check the engine ('docker info')"
	_ = Thing{Network: "a value no engine knows"}
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := topologyViolations(fset, f)
	if len(got) != 4 {
		t.Fatalf("found %d violations, want 4 (host, container:, none, docker info):\n%s", len(got), strings.Join(got, "\n"))
	}
}
