package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestNoImportForOneConstant fails when a package of the moat binary
// imports another of moat's packages only to use one of its constants: the
// dependency (and everything the imported package drags in) then costs
// more than the value, which belongs with its one user or in a leaf
// package. Test fakes (internal/run/runtest) are not in the binary and may
// speak a protocol through its constant.
func TestNoImportForOneConstant(t *testing.T) {
	root := moduleRoot(t)
	inBinary := binaryPackageDirs(t)
	consts := map[string]map[string]bool{} // package dir -> its constants
	constsOf := func(dir string) map[string]bool {
		if c, ok := consts[dir]; ok {
			return c
		}
		c := map[string]bool{}
		for _, f := range parseDir(t, filepath.Join(root, dir)) {
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, s := range g.Specs {
						for _, n := range s.(*ast.ValueSpec).Names {
							c[n.Name] = true
						}
					}
				}
			}
		}
		consts[dir] = c
		return c
	}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		if !inBinary[filepath.Join(root, rel)] {
			continue
		}
		used := map[string]map[string]bool{} // imported dir -> names used
		for _, f := range parseDir(t, filepath.Join(root, rel)) {
			names := map[string]string{} // local name -> imported dir
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				dir, ok := strings.CutPrefix(path, module)
				if !ok {
					continue
				}
				local := filepath.Base(dir)
				if imp.Name != nil {
					local = imp.Name.Name
				}
				names[local] = dir
				if used[dir] == nil {
					used[dir] = map[string]bool{}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] != "" {
						used[names[id.Name]][sel.Sel.Name] = true
					}
				}
				return true
			})
		}
		for dir, names := range used {
			if len(names) != 1 {
				continue
			}
			for name := range names {
				if constsOf(dir)[name] {
					t.Errorf("%s imports %s only for the constant %s: move the value to its user or a leaf package", rel, dir, name)
				}
			}
		}
	}
}

// parseDir parses the non-test Go files of dir (build tags ignored: a file
// behind a tag imports for the binaries built with it).
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var files []*ast.File
	fset := token.NewFileSet()
	for _, n := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}
