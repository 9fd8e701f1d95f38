package deps

import (
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/testutil"
)

func keys(set []Dep) string {
	var out []string
	for _, d := range set {
		out = append(out, d.Key())
	}
	return strings.Join(out, " ")
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		specs []string
		want  string // keys, space-separated
	}{
		{"empty", nil, ""},
		{"apt", []string{"make", "git", "jq"}, "apt:git apt:jq apt:make"},
		{"debian packages", []string{"apt:vim", "apt:python", "python", "apt:vim"}, "apt:python debian:python debian:vim"},
		{"duplicates", []string{"git", "git", " git ", "node@22", "node"}, "apt:git node@22.23.3"},
		{"node default", []string{"node"}, "node@22.23.3"},
		{"node pinned", []string{"node@20"}, "node@20.20.2"},
		{"go default", []string{"go"}, "go@1.24.13"},
		{"go pinned", []string{"go@1.23"}, "go@1.23.12"},
		{"npm adds node", []string{"npm:typescript"}, "node@22.23.3 npm:typescript"},
		{"npm keeps listed node", []string{"npm:typescript@5.4.0", "node@20"}, "node@20.20.2 npm:typescript@5.4.0"},
		{"npm listed node after", []string{"node@24", "npm:a", "npm:b"}, "node@24.21.0 npm:a npm:b"},
		{"pip adds python", []string{"pip:requests"}, "apt:python pip:requests"},
		{"go: adds go", []string{"go:golang.org/x/tools/cmd/goimports@v0.24.0"},
			"go:golang.org/x/tools/cmd/goimports@v0.24.0 go@1.24.13"},
		{"go: keeps listed go", []string{"go@1.25", "go:golang.org/x/vuln/cmd/govulncheck"},
			"go:golang.org/x/vuln/cmd/govulncheck go@1.25.14"},
		{"same name, different methods", []string{"npm:git", "pip:git", "git"}, "apt:git apt:python node@22.23.3 npm:git pip:git"},
		{"pip names normalised", []string{"pip:Foo_Bar", "pip:foo-bar"}, "apt:python pip:foo-bar"},
		{"docker host", []string{"docker:host"}, "docker:host"},
		{"docker twice", []string{"docker:dind", "docker:dind"}, "docker:dind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, err := Resolve(tt.specs)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.specs, err)
			}
			if got := keys(set); got != tt.want {
				t.Fatalf("Resolve(%q) = %q, want %q", tt.specs, got, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		specs []string
		want  string
	}{
		{[]string{"node@20", "node@22"}, `invalid dependency "node@22": conflicts with "node@20"; list one version of node`},
		{[]string{"node@20", "node"}, `invalid dependency "node": conflicts with "node@20"; list one version of node`},
		{[]string{"go@1.22", "go@1.23"}, `invalid dependency "go@1.23": conflicts with "go@1.22"; list one version of go`},
		{[]string{"npm:typescript", "npm:typescript@5.4.0"},
			`invalid dependency "npm:typescript@5.4.0": conflicts with "npm:typescript"; list one version of typescript`},
		{[]string{"pip:requests@1", "pip:Requests@2"},
			`invalid dependency "pip:Requests@2": conflicts with "pip:requests@1"; list one version of requests`},
		{[]string{"docker:host", "git", "docker:dind"},
			`invalid dependency "docker:dind": conflicts with "docker:host"; choose one docker mode`},
		{[]string{"git", "nodejs"}, `unknown dependency "nodejs": did you mean "node"?`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.specs, ","), func(t *testing.T) {
			t.Parallel()
			set, err := Resolve(tt.specs)
			if err == nil {
				t.Fatalf("Resolve(%q) = %q, want an error", tt.specs, keys(set))
			}
			if _, ok := err.(*SpecError); !ok {
				t.Fatalf("Resolve(%q) error %T, want *SpecError", tt.specs, err)
			}
			if err.Error() != tt.want {
				t.Fatalf("Resolve(%q) error\n got: %s\nwant: %s", tt.specs, err, tt.want)
			}
		})
	}
}

func TestResolveDeps(t *testing.T) {
	t.Parallel()
	set, err := Resolve([]string{"psql", "node@20", "docker:dind", "npm:@scope/pkg@1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Dep{
		{Name: "psql", Method: MethodApt, Packages: []string{"postgresql-client"}},
		{Name: "docker", Method: MethodDocker, Mode: DockerDind, Packages: []string{"docker.io", "iproute2", "slirp4netns"}},
		{Name: "node", Method: MethodNode, Version: "20.20.2", Packages: []string{"ca-certificates", "curl", "xz-utils"}},
		{Name: "@scope/pkg", Method: MethodNPM, Version: "1.0.0"},
	}
	if len(set) != len(want) {
		t.Fatalf("got %d deps (%s), want %d", len(set), keys(set), len(want))
	}
	for i := range want {
		if !depEqual(set[i], want[i]) {
			t.Errorf("dep %d = %+v, want %+v", i, set[i], want[i])
		}
	}
}

func depEqual(a, b Dep) bool {
	return a.Name == b.Name && a.Method == b.Method && a.Version == b.Version &&
		a.Mode == b.Mode && slices.Equal(a.Packages, b.Packages)
}

// TestResolveOrderIndependent checks that any order of the same specs
// resolves to the same set.
func TestResolveOrderIndependent(t *testing.T) {
	t.Parallel()
	specs := []string{"git", "jq", "npm:typescript", "node@20", "pip:requests", "go:example.com/tool",
		"docker:host", "make", "python", "go@1.25", "npm:@scope/pkg@2"}
	want, err := Resolve(specs)
	if err != nil {
		t.Fatal(err)
	}
	rng := testutil.Rand(t)
	for range 50 {
		shuffled := slices.Clone(specs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := Resolve(shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if keys(got) != keys(want) {
			t.Fatalf("Resolve(%q) = %q, want %q", shuffled, keys(got), keys(want))
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dep  Dep
		want string
	}{
		{Dep{Name: "git", Method: MethodApt}, "apt:git"},
		{Dep{Name: "node", Method: MethodNode, Version: "22.23.3"}, "node@22.23.3"},
		{Dep{Name: "go", Method: MethodGo, Version: "1.24.13"}, "go@1.24.13"},
		{Dep{Name: "typescript", Method: MethodNPM, Version: "5.4.0"}, "npm:typescript@5.4.0"},
		{Dep{Name: "@scope/pkg", Method: MethodNPM}, "npm:@scope/pkg"},
		{Dep{Name: "typescript", Method: MethodPip}, "pip:typescript"},
		{Dep{Name: "example.com/tool", Method: MethodGoInstall, Version: "v1.0.0"}, "go:example.com/tool@v1.0.0"},
		{Dep{Name: "docker", Method: MethodDocker, Mode: DockerDind}, "docker:dind"},
	}
	for _, tt := range tests {
		if got := tt.dep.Key(); got != tt.want {
			t.Errorf("%+v.Key() = %q, want %q", tt.dep, got, tt.want)
		}
	}
}
