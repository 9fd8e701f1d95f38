package deps

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec string
		want Spec
	}{
		{"git", Spec{Name: "git", Method: MethodApt}},
		{"  jq ", Spec{Name: "jq", Method: MethodApt}},
		{"python", Spec{Name: "python", Method: MethodApt}},
		{"node", Spec{Name: "node", Method: MethodNode}},
		{"node@22", Spec{Name: "node", Method: MethodNode, Version: "22"}},
		{"node@20", Spec{Name: "node", Method: MethodNode, Version: "20"}},
		{"go@1.23", Spec{Name: "go", Method: MethodGo, Version: "1.23"}},
		{"docker:host", Spec{Name: "docker", Method: MethodDocker, Mode: DockerHost}},
		{"docker:dind", Spec{Name: "docker", Method: MethodDocker, Mode: DockerDind}},
		{"npm:typescript", Spec{Name: "typescript", Method: MethodNPM}},
		{"npm:typescript@5.4.0", Spec{Name: "typescript", Method: MethodNPM, Version: "5.4.0"}},
		{"npm:@anthropic-ai/claude-code", Spec{Name: "@anthropic-ai/claude-code", Method: MethodNPM}},
		{"npm:@scope/pkg@1.2", Spec{Name: "@scope/pkg", Method: MethodNPM, Version: "1.2"}},
		{"npm:pkg@next", Spec{Name: "pkg", Method: MethodNPM, Version: "next"}},
		{"npm:lodash.merge@4.6.2", Spec{Name: "lodash.merge", Method: MethodNPM, Version: "4.6.2"}},
		{"apt:htop", Spec{Name: "htop", Method: MethodDebian}},
		{"apt:g++-12", Spec{Name: "g++-12", Method: MethodDebian}},
		{"apt:libc6.1", Spec{Name: "libc6.1", Method: MethodDebian}},
		{"pip:requests", Spec{Name: "requests", Method: MethodPip}},
		{"pip:requests@2.31.0", Spec{Name: "requests", Method: MethodPip, Version: "2.31.0"}},
		{"pip:Django_Rest.framework", Spec{Name: "django-rest-framework", Method: MethodPip}},
		{"pip:requests[socks]", Spec{Name: "requests[socks]", Method: MethodPip}},
		{"pip:Uvicorn[standard,Dev_Tools]@0.30.1",
			Spec{Name: "uvicorn[dev-tools,standard]", Method: MethodPip, Version: "0.30.1"}},
		{"pip:torch@2.3.0+cpu", Spec{Name: "torch", Method: MethodPip, Version: "2.3.0+cpu"}},
		{"go:golang.org/x/tools/cmd/goimports",
			Spec{Name: "golang.org/x/tools/cmd/goimports", Method: MethodGoInstall}},
		{"go:github.com/BurntSushi/toml/cmd/tomlv@v1.4.0",
			Spec{Name: "github.com/BurntSushi/toml/cmd/tomlv", Method: MethodGoInstall, Version: "v1.4.0"}},
		{"go:honnef.co/go/tools/cmd/staticcheck@latest",
			Spec{Name: "honnef.co/go/tools/cmd/staticcheck", Method: MethodGoInstall, Version: "latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.spec)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.spec, err)
			}
			tt.want.Raw = tt.spec
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec string
		want string // the whole Error() text
		hint bool   // whether a Hint is expected
	}{
		{"", `invalid dependency "": the spec is empty`, false},
		{"   ", `invalid dependency "   ": the spec is empty`, false},
		{"node@abc", `invalid dependency "node@abc": version must be one of 20, 22, 24`, false},
		{"node@22.1.0", `invalid dependency "node@22.1.0": version must be one of 20, 22, 24`, false},
		{"node@", `invalid dependency "node@": the version after "@" is empty`, false},
		{"go@1.19", `invalid dependency "go@1.19": version must be one of 1.22, 1.23, 1.24, 1.25, 1.26`, false},
		{"git@2.40", `invalid dependency "git@2.40": git is not versioned; write "git"`, false},
		{"python@3.12", `invalid dependency "python@3.12": python is not versioned; write "python"`, false},
		{"node@22;ls", `invalid dependency "node@22;ls": version "22;ls" contains ";"; ` +
			`use only letters, digits, ".", "_", "+" and "-"`, false},
		{"docker", `invalid dependency "docker": a mode is required: ` + dockerModes, true},
		{"docker:", `invalid dependency "docker:": a mode is required: ` + dockerModes, true},
		{"docker@host", `invalid dependency "docker@host": docker takes a mode, not a version: ` + dockerModes, true},
		{"docker:host@27", `invalid dependency "docker:host@27": docker takes a mode, not a version: ` + dockerModes, true},
		{"docker:rootless", `invalid dependency "docker:rootless": unknown docker mode "rootless": ` +
			`valid modes are host and dind`, true},
		{"cargo:ripgrep", `invalid dependency "cargo:ripgrep": unknown prefix "cargo:"; use apt:, npm:, pip:, go: or docker:`, false},
		{"uv:ruff", `invalid dependency "uv:ruff": unknown prefix "uv:": did you mean "pip:ruff"?`, false},
		{"yarn:prettier", `invalid dependency "yarn:prettier": unknown prefix "yarn:": did you mean "npm:prettier"?`, false},
		{"deb:htop", `invalid dependency "deb:htop": unknown prefix "deb:": did you mean "apt:htop"?`, false},
		{"apt:", `invalid dependency "apt:": the package name is empty`, false},
		{"apt:Vim", `invalid dependency "apt:Vim": "Vim" is not a Debian package name: use lower-case letters, digits, "+", "-" and ".", starting with a letter or digit`, false},
		{"apt:x", `invalid dependency "apt:x": "x" is not a Debian package name: use lower-case letters, digits, "+", "-" and ".", starting with a letter or digit`, false},
		{"apt:vim;rm", `invalid dependency "apt:vim;rm": "vim;rm" is not a Debian package name: use lower-case letters, digits, "+", "-" and ".", starting with a letter or digit`, false},
		{"apt:-o", `invalid dependency "apt:-o": "-o" is not a Debian package name: use lower-case letters, digits, "+", "-" and ".", starting with a letter or digit`, false},
		{"apt:htop@3.2", `invalid dependency "apt:htop@3.2": a Debian package comes at the version of the base image's release; write "apt:htop"`, false},
		{"npm:", `invalid dependency "npm:": the package name is empty`, false},
		{"npm:TypeScript", `invalid dependency "npm:TypeScript": "TypeScript" is not an npm package name: ` +
			`use lower-case letters, digits, ".", "_" and "-", optionally after "@scope/"`, false},
		{"npm:ts@^5", `invalid dependency "npm:ts@^5": version "^5" contains "^"; ` +
			`use only letters, digits, ".", "_", "+" and "-"`, false},
		{"npm:x@-g", `invalid dependency "npm:x@-g": version "-g" must start with a letter or digit`, false},
		{"pip:requests[socks", `invalid dependency "pip:requests[socks": extras in "requests[socks" must end with "]"`, false},
		{"go:goimports", `invalid dependency "go:goimports": "goimports" is not a Go package path: ` +
			`it must look like "example.com/owner/tool", with letters, digits, ".", "_" and "-" between the slashes`, false},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			se := parseError(t, tt.spec)
			if se.Error() != tt.want {
				t.Fatalf("Parse(%q) error\n got: %s\nwant: %s", tt.spec, se.Error(), tt.want)
			}
			if (se.Remedy != "") != tt.hint {
				t.Fatalf("Parse(%q) hint = %q, want hint: %v", tt.spec, se.Remedy, tt.hint)
			}
		})
	}
}

// TestParseRejectsInjection feeds shell and Dockerfile metacharacters to
// every form; none may be accepted.
func TestParseRejectsInjection(t *testing.T) {
	t.Parallel()
	payloads := []string{
		" x", "x y", "'x'", `"x"`, "$x", "$(x)", "`x`", "x;y", "x|y", "x&y", "x\ny", "x\ty",
		"x>y", "x<y", "-x", "--x", "x\\y", "x*", "x?", "x#y", "x\x00y", "x=y", "x%y",
	}
	forms := []string{"npm:%s", "npm:pkg@%s", "npm:@%s/pkg", "pip:%s", "pip:pkg@%s", "pip:pkg[%s]",
		"go:example.com/%s", "go:%s.com/x", "go:example.com/x@%s", "node@%s", "git@%s", "docker:%s"}
	for _, form := range forms {
		for _, p := range payloads {
			spec := strings.Replace(form, "%s", p, 1)
			if sp, err := Parse(spec); err == nil {
				t.Errorf("Parse(%q) accepted %+v", spec, sp)
			}
		}
	}
}

func parseError(t *testing.T, spec string) *SpecError {
	t.Helper()
	sp, err := Parse(spec)
	if err == nil {
		t.Fatalf("Parse(%q) = %+v, want an error", spec, sp)
	}
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("Parse(%q) error %T, want *SpecError", spec, err)
	}
	return se
}

func TestParseTooLong(t *testing.T) {
	t.Parallel()
	spec := "npm:" + strings.Repeat("a", maxSpecLen)
	se := parseError(t, spec)
	if !strings.HasSuffix(se.Error(), "the spec is longer than 300 characters") {
		t.Fatalf("Parse(long) error = %s", se)
	}
}
