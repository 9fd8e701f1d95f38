package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// A count printed with a fixed plural noun reads "1 entries" when the
// count is one; internal/plural words it instead. These patterns find
// the fixed plurals in a string literal: a count verb followed by a word,
// or by an adjective and a word, ending in "s" ("%d entries", "%d
// orphaned objects"), a noun made plural by the format ("%d %ss"), and
// "(s)" ("arg(s)").
var (
	countThenWords = regexp.MustCompile(`%[-+# 0-9.*]*[dv] ([a-z-]+)(?: ([a-z-]+))?`)
	countThenNounS = regexp.MustCompile(`%[-+# 0-9.*]*[dv] %ss\b`)
	optionalS      = regexp.MustCompile(`[A-Za-z]\(s\)`)
)

// notNouns are the words ending in "s" that follow a number without
// being a noun it counts: "entry %d comes after", "run %d is", "%d plus".
var notNouns = map[string]bool{
	"is": true, "was": true, "has": true, "does": true, "its": true, "this": true,
	"as": true, "plus": true, "less": true, "comes": true, "holds": true,
	"exceeds": true, "matches": true, "goes": true, "needs": true, "takes": true,
}

// alwaysPlural are the literals, by file and a part of the literal that
// holds the count and its noun, whose count cannot be one, with the reason.
var alwaysPlural = map[string]string{
	"internal/state/find.go: it matches %d runs":       "a prefix is ambiguous only when it matches two runs or more",
	"internal/runtime/kube/pod.go: %s is %d bytes":     "said only of a file over maxConfigFile (256 KiB)",
	"internal/podfs/unpack.go: a name of %d bytes":     "said only of a name over maxNameLen",
	"internal/suggest/wildcard.go: (%d names below it": "a wildcard is suggested only for wildcardAt names or more",
	"internal/sshwatch/registry.go: %s (%d tunnels)":   "written only when n > 1; one tunnel is the bare address",
}

// fixedPlurals lists where a Go file's string literals print a count with
// a fixed plural noun, as "file:line: match in literal". A count that is
// a constant of the package (consts holds their names), or an expression
// of constants, is a bound such as "longer than %d bytes": it is never one.
func fixedPlurals(fset *token.FileSet, f *ast.File, rel string, consts map[string]bool) []string {
	var out []string
	var args map[*ast.BasicLit][]ast.Expr // a format literal -> the arguments after it
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			for i, a := range call.Args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if args == nil {
						args = map[*ast.BasicLit][]ast.Expr{}
					}
					args[lit] = call.Args[i+1:]
				}
			}
			return true
		}
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		constantAt := func(at int) bool {
			verb := len(formatVerb.FindAllString(s[:at], -1))
			a := args[lit]
			return verb < len(a) && constantExpr(a[verb], consts)
		}
		var found []string
		for _, m := range countThenWords.FindAllStringSubmatchIndex(s, -1) {
			first, second := s[m[2]:m[3]], ""
			if m[4] >= 0 {
				second = s[m[4]:m[5]]
			}
			switch {
			case notNouns[first] || constantAt(m[0]):
			case strings.HasSuffix(first, "s"):
				found = append(found, s[m[0]:m[3]])
			case second != "" && strings.HasSuffix(second, "s") && !notNouns[second]:
				found = append(found, s[m[0]:m[1]])
			}
		}
		found = append(found, countThenNounS.FindAllString(s, -1)...)
		found = append(found, optionalS.FindAllString(s, -1)...)
		for _, m := range found {
			if allowed(rel, s, m) {
				continue
			}
			pos := fset.Position(lit.Pos())
			out = append(out, rel+":"+strconv.Itoa(pos.Line)+": "+strconv.Quote(m)+" in "+lit.Value)
		}
		return true
	})
	return out
}

// formatVerb matches a verb of a format string that takes an argument.
var formatVerb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// constantExpr says whether e is made of literals and the constants named
// in consts only: maxBytes, maxRecord>>20.
func constantExpr(e ast.Expr, consts map[string]bool) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return consts[e.Name]
	case *ast.ParenExpr:
		return constantExpr(e.X, consts)
	case *ast.BinaryExpr:
		return constantExpr(e.X, consts) && constantExpr(e.Y, consts)
	}
	return false
}

// constNames are the names a package's files declare as constants.
func constNames(files []*ast.File) map[string]bool {
	names := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						names[n.Name] = true
					}
				}
			}
			return true
		})
	}
	return names
}

// allowed says whether the match m in the literal lit of file rel is on
// the alwaysPlural list.
func allowed(rel, lit, m string) bool {
	for key := range alwaysPlural {
		file, part, _ := strings.Cut(key, ": ")
		if file == rel && strings.Contains(lit, part) && strings.Contains(part, m) {
			return true
		}
	}
	return false
}

// TestCountsUseThePluralPackage fails when a message of moat's prints a
// count with a fixed plural noun ("%d entries", "%d %ss", "arg(s)"):
// internal/plural words the count for one and for many.
func TestCountsUseThePluralPackage(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	var problems []string
	checked := 0
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			fset := token.NewFileSet()
			pkgs, err := parser.ParseDir(fset, path, func(fi fs.FileInfo) bool {
				return !strings.HasSuffix(fi.Name(), "_test.go")
			}, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			for _, p := range pkgs {
				files := slices.Collect(maps.Values(p.Files))
				consts := constNames(files)
				for _, f := range files {
					rel, _ := filepath.Rel(root, fset.File(f.Pos()).Name())
					problems = append(problems, fixedPlurals(fset, f, filepath.ToSlash(rel), consts)...)
					checked++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(problems)
	if checked < 100 {
		t.Fatalf("checked %d files: not moat's source", checked)
	}
	if len(problems) > 0 {
		t.Errorf("these messages print a count with a fixed plural noun, which reads \"1 entries\" for one; "+
			"word the count with plural.Count(n, \"entry\", \"entries\") (internal/plural), or, if the count "+
			"can never be one, add the literal to alwaysPlural in %s with the reason:\n%s",
			"internal/archtest/plural_test.go", strings.Join(problems, "\n"))
	}
}

// TestFixedPluralsAreFound shows that the check finds each shape, and
// passes the words that are not nouns, the constant bounds and the
// allowed literal (only that literal: another count of runs in its file
// is found).
func TestFixedPluralsAreFound(t *testing.T) {
	t.Parallel()
	src := `package x
func f() {
	fmt.Printf("the last %d entries", n)
	fmt.Errorf("%d orphaned objects", n)
	_ = fmt.Sprintf("%d %ss", n, noun)
	_ = "accepts 1 arg(s)"
	_ = fmt.Sprintf("%5d requests", n)
	_ = fmt.Sprintf("entry %d comes after entry %d", a, b)
	_ = fmt.Sprintf("host port %d is below %d", a, b)
	_ = fmt.Sprintf("%d %s", n, noun)
	_ = fmt.Sprintf("it matches %d runs", n)
	_ = fmt.Sprintf("%d runs left", n)
	_ = "(s is a variable)"
	_ = fmt.Errorf("longer than %d bytes", maxLen)
	_ = fmt.Errorf("%s is %d bytes, more than %d bytes", name, len(b), maxLen>>1)
}
const maxLen = 10`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := fixedPlurals(fset, f, "internal/state/find.go", constNames([]*ast.File{f}))
	want := []string{`"%d entries"`, `"%d orphaned objects"`, `"%d %ss"`, `"g(s)"`, `"%5d requests"`, `"%d runs"`, `"%d bytes"`}
	if len(got) != len(want) {
		t.Fatalf("found %d fixed plurals, want %d (%s):\n%s", len(got), len(want), strings.Join(want, ", "), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(got[i], ": "+w+" in ") {
			t.Errorf("finding %d is %q, want the match %s", i, got[i], w)
		}
	}
}
