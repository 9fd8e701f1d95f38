package deps

import "testing"

func TestUnknownSuggestions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec string
		want string
	}{
		{"nodejs", `unknown dependency "nodejs": did you mean "node"?`},
		{"Node", `unknown dependency "Node": did you mean "node"?`},
		{"npm", `unknown dependency "npm": did you mean "node"?`},
		{"golang", `unknown dependency "golang": did you mean "go"?`},
		{"python3", `unknown dependency "python3": did you mean "python"?`},
		{"py", `unknown dependency "py": did you mean "python"?`},
		{"postgres", `unknown dependency "postgres": did you mean "psql"?`},
		{"postgresql", `unknown dependency "postgresql": did you mean "psql"?`},
		{"pg", `unknown dependency "pg": did you mean "psql"?`},
		{"rg", `unknown dependency "rg": did you mean "ripgrep"?`},
		{"build-essentials", `unknown dependency "build-essentials": did you mean "build-essential"?`},
		{"sqlite", `unknown dependency "sqlite": did you mean "sqlite3"?`},
		{"dind", `unknown dependency "dind": did you mean "docker:host" or "docker:dind"?`},
		{"docker-ce", `unknown dependency "docker-ce": did you mean "docker:host" or "docker:dind"?`},
		{"gti", `unknown dependency "gti": did you mean "git"?`},
		{"pyton", `unknown dependency "pyton": did you mean "python"?`},
		{"ripgrp", `unknown dependency "ripgrp": did you mean "ripgrep"?`},
		{"nodejs@22", `unknown dependency "nodejs@22": did you mean "node"?`},
		{"jqq", `unknown dependency "jqq": did you mean "jq"?`},
		{"make-x", `unknown dependency "make-x": did you mean "make"? (for a package, write "npm:make-x" or "pip:make-x")`},
		{"left-pad", `unknown dependency "left-pad": not in the registry; for a package, write "apt:left-pad" or "npm:left-pad" or "pip:left-pad"`},
		{"left_pad@1.3.0", `unknown dependency "left_pad@1.3.0": not in the registry; for a package, write "npm:left_pad@1.3.0" or "pip:left_pad@1.3.0"`},
		{"@types/node", `unknown dependency "@types/node": not in the registry; for a package, write "npm:@types/node"`},
		{"golang.org/x/tools/cmd/goimports", `unknown dependency "golang.org/x/tools/cmd/goimports": ` +
			`not in the registry; for a package, write "go:golang.org/x/tools/cmd/goimports"`},
		{"cowsay", `unknown dependency "cowsay": not in the registry; for a package, write "apt:cowsay"`},
		{"htop", `unknown dependency "htop": not in the registry; for a package, write "apt:htop"`},
		{"zz", `unknown dependency "zz": not in the registry; for a package, write "apt:zz"`},
		{"x", `unknown dependency "x": not in the registry`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			se := parseError(t, tt.spec)
			if se.Error() != tt.want {
				t.Fatalf("Parse(%q) error\n got: %s\nwant: %s", tt.spec, se.Error(), tt.want)
			}
			if se.Remedy != listHint {
				t.Fatalf("Parse(%q) hint = %q, want %q", tt.spec, se.Remedy, listHint)
			}
		})
	}
}
