package config

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/moatsh/moat/internal/deps"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want Config
	}{
		{name: "empty file", yaml: "", want: Config{}},
		{name: "comments only", yaml: "# nothing yet\n", want: Config{}},
		{name: "document marker only", yaml: "---\n", want: Config{}},
		{name: "null document", yaml: "~\n", want: Config{}},
		{name: "empty mapping", yaml: "{}\n", want: Config{}},
		{
			name: "every field",
			yaml: `name: my-agent
dependencies: [git, jq, make, python]
env: {FOO: bar}
mounts: ["./cache:/cache:ro"]
command: ["make", "test"]
network: {policy: strict, allow: [api.example.com], hosts: {api.test: 172.17.0.1}, ca: certs/ca.pem}
grants: [github, my-api]
`,
			want: Config{
				Name:            "my-agent",
				Dependencies:    resolved(t, "git", "jq", "make", "python"),
				DependencySpecs: []string{"git", "jq", "make", "python"},
				Env:             map[string]string{"FOO": "bar"},
				Mounts:          []Mount{{Source: "./cache", Target: "/cache", ReadOnly: true}},
				Command:         []string{"make", "test"},
				Network: Network{Policy: "strict", Allow: allowRules(t, "api.example.com"),
					Hosts: []HostMapping{mapping("api.test", "172.17.0.1", "api.test")}, CA: "certs/ca.pem"},
				Grants: []string{"github", "my-api"},
			},
		},
		{
			name: "block style",
			yaml: `# agent.yaml
name: build.bot_1
dependencies:
  - git
  - node@22
env:
  EMPTY: ""
  _under: "x y"
  NUM: "8080"
  MULTI: |
    line one
    line two
mounts:
  - ~/.cache/go:/root/.cache/go
  - /data:/data/:rw
  - data:/workspace/data
command:
  - sh
  - -c
  - make test
`,
			want: Config{
				Name:            "build.bot_1",
				Dependencies:    resolved(t, "git", "node@22"),
				DependencySpecs: []string{"git", "node@22"},
				Env: map[string]string{
					"EMPTY": "", "_under": "x y", "NUM": "8080", "MULTI": "line one\nline two\n",
				},
				Mounts: []Mount{
					{Source: "~/.cache/go", Target: "/root/.cache/go"},
					{Source: "/data", Target: "/data"},
					{Source: "data", Target: "/workspace/data"},
				},
				Command: []string{"sh", "-c", "make test"},
			},
		},
		{
			name: "null fields are unset",
			yaml: "name:\ndependencies:\nenv: ~\nmounts: null\ncommand:\nnetwork:\ngrants:\n",
			want: Config{},
		},
		{
			name: "empty collections",
			yaml: "dependencies: []\nenv: {}\nmounts: []\n",
			want: Config{Dependencies: []deps.Dep{}, DependencySpecs: []string{}, Env: map[string]string{}, Mounts: []Mount{}},
		},
		{
			name: "anchors and aliases",
			yaml: "name: &n shared\ncommand: [echo, *n]\n",
			want: Config{Name: "shared", Command: []string{"echo", "shared"}},
		},
		{
			name: "byte order mark and CRLF",
			yaml: "\ufeffname: x\r\nenv:\r\n  A: b\r\n",
			want: Config{Name: "x", Env: map[string]string{"A": "b"}},
		},
		{
			name: "JSON",
			yaml: `{"name": "x", "command": ["a", "b"]}`,
			want: Config{Name: "x", Command: []string{"a", "b"}},
		},
		{
			name: "quoted key and yes stays a string",
			yaml: "\"env\": {A: yes, B: 'no'}\n",
			want: Config{Env: map[string]string{"A": "yes", "B": "no"}},
		},
		{
			name: "directive",
			yaml: "%YAML 1.2\n---\nname: x\n",
			want: Config{Name: "x"},
		},
		{
			name: "trailing empty document",
			yaml: "name: x\n---\n",
			want: Config{Name: "x"},
		},
		{
			name: "exact duplicate dependency",
			yaml: "dependencies: [git, git]\n",
			want: Config{Dependencies: resolved(t, "git"), DependencySpecs: []string{"git", "git"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse("agent.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.Path = "agent.yaml"
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %#v, want %#v", *got, tt.want)
			}
		})
	}
}

// resolved is what Parse makes of dependencies written as specs.
func resolved(t *testing.T, specs ...string) []deps.Dep {
	t.Helper()
	set, err := deps.Resolve(specs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestParseResolvesDependencies checks the resolved set: requirements
// added, sorted by key, Docker's source from docker.install.
func TestParseResolvesDependencies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		yaml string
		want []string // keys
	}{
		{"dependencies: [npm:typescript@5.4.0, git, git]\n", []string{"apt:git", "node@" + resolved(t, "node")[0].Version, "npm:typescript@5.4.0"}},
		{"dependencies: [docker:dind]\n", []string{"docker:dind"}},
		{"dependencies: [docker:dind]\ndocker: {install: docker}\n", []string{"docker:dind+docker"}},
		{"docker: {install: debian}\ndependencies: [docker:host]\n", []string{"docker:host"}},
	}
	for _, tt := range tests {
		c, err := Parse("agent.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		var got []string
		for _, d := range c.Dependencies {
			got = append(got, d.Key())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.yaml, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want string // Error()
		hint string
	}{
		// Document shape.
		{"list document", "- git\n", `agent.yaml:1:1: expected a mapping of fields at the top level, got a list`,
			"Valid fields: agent, command, dependencies, docker, dockerfile, env, grants, image, mcp, mounts, name, network, ports, resources."},
		{"string document", "hello\n", `agent.yaml:1:1: expected a mapping of fields at the top level, got a string`,
			"Valid fields: agent, command, dependencies, docker, dockerfile, env, grants, image, mcp, mounts, name, network, ports, resources."},
		{"two documents", "name: x\n---\nname: y\n", `agent.yaml:2:1: expected one YAML document, found a second one`,
			`Remove the "---" line: agent.yaml holds a single document.`},
		{"syntax", "name: [unclosed\n", `agent.yaml:1:7: invalid YAML: sequence end token ']' not found`, ""},
		{"tab", "\tname: x\n", `agent.yaml:1:5: invalid YAML: tab character cannot use as a map key directly`,
			"Indent with spaces: YAML does not allow tabs for indentation."},
		{"not UTF-8", "name: x\nenv: {A: \"\xff\"}\n", `agent.yaml:2:11: the file is not valid UTF-8`, "Save the file as UTF-8."},

		// Fields.
		{"typo", "name: x\ndepndencies: [git]\n", `agent.yaml:2:1: unknown field "depndencies"`, `Did you mean "dependencies"?`},
		{"wrong case", "Name: x\n", `agent.yaml:1:1: unknown field "Name"`, `Did you mean "name"?`},
		{"unknown", "secrets: [github]\n", `agent.yaml:1:1: unknown field "secrets"`,
			"Valid fields: agent, command, dependencies, docker, dockerfile, env, grants, image, mcp, mounts, name, network, ports, resources."},
		{"duplicate field", "name: a\nenv: {}\nname: b\n", `agent.yaml:3:1: duplicate field "name" (first at 1:1)`, "Remove one of them."},
		{"list key", "? [a]\n: x\n", `agent.yaml:2:1: invalid YAML: found an invalid key for this map`, ""},
		{"merge key", "<<: {name: x}\n", `agent.yaml:1:1: merge keys (<<) are not supported`, "Write the keys out instead."},
		{"tag", "name: !!str 123\n", `agent.yaml:1:7: YAML tag !!str is not supported`,
			"Remove the tag; quote the value if it must be a string."},
		{"unknown alias", "name: *nope\n", `agent.yaml:1:7: unknown alias "*nope"`, "Define &nope before using *nope."},
		{"alias used before anchor", "command: [*a]\nname: &a x\n", `agent.yaml:1:11: unknown alias "*a"`, "Define &a before using *a."},
		{"bad alias reported where used", "name: &a\ncommand: [echo, *a]\n", `agent.yaml:2:17: command: expected a string, got null`,
			`Write "" for an empty string.`},
		{"alias to the document", "&top\nname: *top\n", `agent.yaml:2:7: name: expected a string, got a mapping`, ""},
		{"self alias", "command: &x [*x]\n", `agent.yaml:1:14: command: expected a string, got a list`, ""},

		// name.
		{"name number", "name: 123\n", `agent.yaml:1:7: name: expected a string, got a number`, `Quote it: "123".`},
		{"name list", "name: [a]\n", `agent.yaml:1:7: name: expected a string, got a list`, ""},
		{"name empty", "name: \"\"\n", `agent.yaml:1:7: invalid name "": it must not be empty`,
			"Remove the name field to let moat pick a random name."},
		{"name invalid", "name: My Agent\n", `agent.yaml:1:7: invalid name "My Agent": it must start with a lowercase letter or digit, contain only a-z, 0-9, ".", "_" and "-", and be at most 63 characters long`,
			`Did you mean "my-agent"?`},
		{"name leading dash", "name: -x\n", `agent.yaml:1:7: invalid name "-x": it must start with a lowercase letter or digit, contain only a-z, 0-9, ".", "_" and "-", and be at most 63 characters long`,
			`Did you mean "x"?`},

		// dependencies.
		{"dependencies string", "dependencies: git, jq\n", `agent.yaml:1:15: dependencies: expected a list of strings, got a string`,
			`Write a list: dependencies: ["git", "jq"].`},
		{"dependencies mapping", "dependencies:\n  git: latest\n", `agent.yaml:2:3: dependencies: expected a list of strings, got a mapping`, ""},
		{"dependency number", "dependencies: [git, 3]\n", `agent.yaml:1:21: dependencies: expected a string, got a number`, `Quote it: "3".`},
		{"dependency null", "dependencies:\n  - git\n  -\n", `agent.yaml:3:5: dependencies: expected a string, got null`, `Write "" for an empty string.`},

		// env.
		{"env list", "env: [FOO=bar]\n", `agent.yaml:1:6: env: expected a mapping of names to strings, got a list`,
			"Write one NAME: value pair per line under env:, e.g. FOO: bar."},
		{"env number", "env:\n  PORT: 8080\n", `agent.yaml:2:9: env PORT: expected a string, got a number`, `Quote it: "8080".`},
		{"env float", "env:\n  V: 1.10\n", `agent.yaml:2:6: env V: expected a string, got a number`, `Quote it: "1.10".`},
		{"env bool", "env:\n  DEBUG: true\n", `agent.yaml:2:10: env DEBUG: expected a string, got a boolean`, `Quote it: "true".`},
		{"env null", "env:\n  EMPTY:\n", `agent.yaml:2:10: env EMPTY: expected a string, got null`, `Write "" for an empty string.`},
		{"env mapping value", "env:\n  A: {b: c}\n", `agent.yaml:2:6: env A: expected a string, got a mapping`, ""},
		{"env name digit", "env:\n  1FOO: x\n", `agent.yaml:2:3: invalid env name "1FOO": it must start with a letter or "_" and contain only letters, digits and "_"`,
			"Use a name like MY_VAR."},
		{"env name dash", "env: {MY-VAR: x}\n", `agent.yaml:1:7: invalid env name "MY-VAR": it must start with a letter or "_" and contain only letters, digits and "_"`,
			"Use a name like MY_VAR."},
		{"env name number", "env: {1: x}\n", `agent.yaml:1:7: invalid env name "1": it must start with a letter or "_" and contain only letters, digits and "_"`,
			"Use a name like MY_VAR."},
		{"env duplicate", "env:\n  A: x\n  A: y\n", `agent.yaml:3:3: duplicate env name "A" (first at 2:3)`, "Remove one of them."},
		{"env NUL", "env:\n  A: \"a\\0b\"\n", `agent.yaml:2:6: invalid value for env A: it contains a NUL byte`, `Remove the NUL byte (a "\0" escape).`},

		// mounts.
		{"mounts string", "mounts: ./a:/b\n", `agent.yaml:1:9: mounts: expected a list of strings, got a string`,
			`Write a list: mounts: ["./a:/b"].`},
		{"mount one part", "mounts: [./a]\n", `agent.yaml:1:10: invalid mount "./a": expected SOURCE:TARGET[:ro|rw]`,
			`Write SOURCE:TARGET[:ro|rw], e.g. "./cache:/cache:ro"; paths containing ":" cannot be mounted.`},
		{"mount bad mode", "mounts:\n  - ./a:/b:rx\n", `agent.yaml:2:5: invalid mount "./a:/b:rx": mode "rx" must be "ro" or "rw"`,
			`Use "ro" for read-only or "rw" (the default) for read-write.`},
		{"mount relative target", "mounts: [\"./a:b\"]\n", `agent.yaml:1:10: invalid mount "./a:b": target "b" must be an absolute path`,
			`Did you mean "/b"?`},
		{"mount workspace", "mounts: [\"./a:/workspace/\"]\n", `agent.yaml:1:10: invalid mount "./a:/workspace/": the target cannot be /workspace: the workspace is mounted there`,
			"Pick another target; a directory inside /workspace is fine."},
		{"mount duplicate target", "mounts:\n  - ./a:/c\n  - ./b:/c/\n", `agent.yaml:3:5: invalid mount "./b:/c/": target /c is already used (first at 2:5)`,
			"Mount each target once."},

		// command.
		{"command string", "command: make test\n", `agent.yaml:1:10: command: expected a list of strings, got a string`,
			`Write a list: command: ["make", "test"], or command: ["sh", "-c", "make test"] to run it with a shell.`},
		{"command empty", "command: []\n", `agent.yaml:1:10: invalid command: the list is empty`,
			"Remove the command field to use the default command."},
		{"command empty program", "command: [\"\", x]\n", `agent.yaml:1:11: invalid command: the program to run (the first element) is empty`,
			`Put the program to run first, e.g. command: ["make", "test"].`},
		{"command number", "command: [sleep, 10]\n", `agent.yaml:1:18: command: expected a string, got a number`, `Quote it: "10".`},
		{"command NUL", "command:\n  - echo\n  - \"\\0\"\n", `agent.yaml:3:5: invalid command: argument "\x00" contains a NUL byte`, `Remove the NUL byte (a "\0" escape).`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkError(t, tt.yaml, tt.want, tt.hint)
		})
	}
}

// TestParseDependencyErrors checks that deps errors keep their wording and
// hint and gain the position of the item. The wording itself is deps'.
func TestParseDependencyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		pos  string
		spec string // the spec deps.Parse rejects; "" for a Resolve conflict
		list []string
	}{
		{"unknown", "dependencies:\n  - git\n  - nodejs\n", "3:5", "nodejs", nil},
		{"docker without mode", "dependencies: [git, docker]\n", "1:21", "docker", nil},
		{"empty", "dependencies: [\"\"]\n", "1:16", "", nil},
		{"conflict", "dependencies: [node@24, git, node@20]\n", "1:30", "", []string{"node@24", "git", "node@20"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var depErr error
			if tt.list != nil {
				_, depErr = deps.Resolve(tt.list)
			} else {
				_, depErr = deps.Parse(tt.spec)
			}
			var se *deps.SpecError
			if !errors.As(depErr, &se) {
				t.Fatalf("deps error %v is not a *deps.SpecError", depErr)
			}
			checkError(t, tt.yaml, "agent.yaml:"+tt.pos+": "+depErr.Error(), se.Remedy)
		})
	}
}

func checkError(t *testing.T, yaml, want, hint string) {
	t.Helper()
	c, err := Parse("agent.yaml", []byte(yaml))
	if err == nil {
		t.Fatalf("Parse succeeded with %#v, want error %q", c, want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want *Error", err, err)
	}
	if err.Error() != want {
		t.Fatalf("got error\n\t%s\nwant\n\t%s", err, want)
	}
	if e.Hint() != hint {
		t.Fatalf("got hint %q, want %q", e.Hint(), hint)
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "agent.yaml", Line: 3, Col: 5, Msg: "bad"}, "agent.yaml:3:5: bad"},
		{Error{File: "/w/agent.yaml", Msg: "bad", Remedy: "fix it"}, "/w/agent.yaml: bad"},
		{Error{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestErrorHint checks that the CLI, which looks for a Hint method
// (cmdutil.Hinter), finds the remedy through wrapping.
func TestErrorHint(t *testing.T) {
	t.Parallel()
	_, err := Parse("agent.yaml", []byte("Name: x\n"))
	err = fmt.Errorf("preparing run: %w", err)
	var h interface{ Hint() string }
	if !errors.As(err, &h) || h.Hint() != `Did you mean "name"?` {
		t.Fatalf("got %v, want a Hint() of the remedy", err)
	}
}

func TestErrorUnwrap(t *testing.T) {
	t.Parallel()
	_, err := Parse("agent.yaml", []byte("dependencies: [nodejs]\n"))
	var se *deps.SpecError
	if !errors.As(err, &se) || se.Spec != "nodejs" {
		t.Fatalf("got %v, want it to wrap the *deps.SpecError for nodejs", err)
	}
}
