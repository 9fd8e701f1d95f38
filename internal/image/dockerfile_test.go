package image

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/testutil"
)

// The -update flag may also be declared by another test file of this
// package; register it only once and read it by name.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the testdata/*.golden files")
	}
}

func updatingGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const dockerfileTestBase = "debian:bookworm-slim"

var dockerfileCases = []struct {
	name  string
	specs []string
	from  deps.DockerSource
	src   Sources
}{
	{"empty", nil, "", Sources{}},
	{"apt", []string{"git", "jq", "make", "python"}, "", Sources{}},
	{"node", []string{"node@20"}, "", Sources{}},
	{"go", []string{"go"}, "", Sources{}},
	{"npm", []string{"npm:typescript@5.4.0", "npm:@anthropic-ai/claude-code"}, "", Sources{}},
	{"pip", []string{"pip:requests@2.31.0", "pip:black", "pip:uvicorn[standard]"}, "", Sources{}},
	{"go-install", []string{"go:golang.org/x/tools/cmd/goimports@v0.24.0", "go:honnef.co/go/tools/cmd/staticcheck"}, "", Sources{}},
	{"docker-host", []string{"docker:host"}, "", Sources{}},
	{"docker-dind", []string{"docker:dind"}, "", Sources{}},
	{"docker-host-from-docker", []string{"docker:host"}, deps.FromDocker, Sources{}},
	{"docker-dind-from-docker", []string{"git", "docker:dind"}, deps.FromDocker, Sources{}},
	{"mixed", []string{"git", "jq", "make", "python", "ripgrep", "psql", "node@22", "npm:typescript",
		"pip:ruff@0.5.0", "go@1.25", "go:golang.org/x/vuln/cmd/govulncheck", "docker:dind"}, "", Sources{}},
	{"agents", []string{"claude-code", "codex", "gemini-cli"}, "", Sources{}},
	{"toolchains", []string{"apt:htop", "apt:g++-12", "ruby", "java", "maven", "rust", "bun", "uv", "vim"}, "", Sources{}},
	{"mirrors", []string{"claude-code", "npm:typescript@5.4.0", "pip:requests@2.31.0"}, "",
		Sources{NPMRegistry: "http://npm.corp.example:4873/", PipIndex: "https://pypi.corp.example/simple"}},
}

func resolveForTest(t *testing.T, specs []string) []deps.Dep {
	t.Helper()
	set, err := deps.Resolve(specs)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", specs, err)
	}
	return set
}

func TestDockerfileGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range dockerfileCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Dockerfile(dockerfileTestBase, deps.WithDockerSource(resolveForTest(t, tc.specs), tc.from), tc.src)
			path := filepath.Join("testdata", tc.name+".golden")
			if updatingGolden() {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Dockerfile differs from %s (run with -update and review the diff)\n got:\n%s\nwant:\n%s",
					path, got, want)
			}
		})
	}
}

// TestDockerfileDeterministic resolves shuffled specs and expects the same bytes.
func TestDockerfileDeterministic(t *testing.T) {
	t.Parallel()
	specs := dockerfileCases[len(dockerfileCases)-1].specs
	want := Dockerfile(dockerfileTestBase, resolveForTest(t, specs), Sources{})
	rng := testutil.Rand(t)
	for range 20 {
		shuffled := slices.Clone(specs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Dockerfile(dockerfileTestBase, resolveForTest(t, shuffled), Sources{}); !bytes.Equal(got, want) {
			t.Fatalf("Dockerfile for %q differs:\n%s\nwant:\n%s", shuffled, got, want)
		}
	}
}

// TestDockerfileRules checks properties every generated Dockerfile must have.
func TestDockerfileRules(t *testing.T) {
	t.Parallel()
	for _, tc := range dockerfileCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			df := string(Dockerfile(dockerfileTestBase, resolveForTest(t, tc.specs), Sources{}))
			for _, bad := range []string{"--mount", "\nUSER ", "/root/go", "/root/.cargo", "\t"} {
				if strings.Contains(df, bad) {
					t.Errorf("Dockerfile contains %q", bad)
				}
			}
			if n := strings.Count(df, "\nFROM "); n != 1 {
				t.Errorf("Dockerfile has %d FROM lines, want 1", n)
			}
			if n := strings.Count(df, "apt-get install"); n != 1 {
				t.Errorf("Dockerfile has %d apt-get install commands, want 1", n)
			}
			if !strings.HasSuffix(df, "ENTRYPOINT [\""+InitPath+"\"]\nWORKDIR /workspace\n") {
				t.Errorf("Dockerfile does not end with the entrypoint and workdir:\n%s", df)
			}
		})
	}
}

// TestDockerfileScrubs feeds deps that Resolve would never produce and
// expects no extra instruction, quote or option to come out.
func TestDockerfileScrubs(t *testing.T) {
	t.Parallel()
	evil := "x'\nRUN touch /pwned #$(id)`id`;|&"
	set := []deps.Dep{
		{Name: evil, Method: deps.MethodApt, Packages: []string{evil}},
		{Name: "node", Method: deps.MethodNode, Version: evil},
		{Name: evil, Method: deps.MethodNPM, Version: evil},
		{Name: "-g", Method: deps.MethodPip},
		{Name: evil, Method: deps.MethodGoInstall},
		{Name: "docker", Method: deps.MethodDocker, Mode: deps.DockerMode(evil)},
	}
	df := string(Dockerfile("debian\nRUN touch /pwned", set, Sources{}))
	for _, line := range strings.Split(df, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "RUN touch") {
			t.Errorf("injected instruction %q", line)
		}
	}
	for _, bad := range []string{"x'", "$(id", "`", ";|&", "#$", "'-g'"} {
		if strings.Contains(df, bad) {
			t.Errorf("Dockerfile contains %q:\n%s", bad, df)
		}
	}
}

// Every downloaded toolchain is checked against a SHA-256 recorded in the
// recipe before it is unpacked: the download site (or a proxy on the way)
// must not choose what runs in the image.
func TestToolchainsAreVerified(t *testing.T) {
	sum := regexp.MustCompile(`sum=[a-f0-9]{64} `)
	for _, name := range []string{"node", "go"} {
		e, ok := deps.Lookup(name)
		if !ok {
			t.Fatalf("no %s recipe", name)
		}
		for _, v := range e.Versions {
			set, err := deps.Resolve([]string{name + "@" + v})
			if err != nil {
				t.Fatal(err)
			}
			df := string(Dockerfile("debian:bookworm-slim", set, Sources{}))
			if !strings.Contains(df, "sha256sum -c") || !sum.MatchString(df) {
				t.Errorf("%s@%s: the download is not checked against a recorded SHA-256:\n%s", name, v, df)
			}
			if i, j := strings.Index(df, "sha256sum -c"), strings.Index(df, "tar -x"); j >= 0 && j < i {
				t.Errorf("%s@%s: unpacked before it is checked", name, v)
			}
		}
	}
}
