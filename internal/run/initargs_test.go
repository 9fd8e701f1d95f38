package run

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/runtime"
)

// agentEnviron is the environment the agent's command gets: the
// container's, overridden by the variables moat-init applies after it
// drops privileges (the arguments before "--"), as env(1) does.
func agentEnviron(t *testing.T, spec runtime.ContainerSpec) []string {
	t.Helper()
	sep := slices.Index(spec.Cmd, initSeparator)
	if sep < 0 {
		t.Fatalf("command %q has no %q: moat-init cannot tell the agent's variables from the command", spec.Cmd, initSeparator)
	}
	env := slices.Clone(spec.Env)
	for _, kv := range spec.Cmd[:sep] {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("moat-init argument %q before %q is not NAME=VALUE", kv, initSeparator)
		}
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		env = append(env, kv)
	}
	return env
}

func TestInitArgs(t *testing.T) {
	tests := []struct {
		name         string
		env, command []string
		want         []string
	}{
		{"no env", nil, []string{"true"}, []string{"--", "true"}},
		{"env", []string{"A=1", "B="}, []string{"sh", "-c", "echo $A"}, []string{"A=1", "B=", "--", "sh", "-c", "echo $A"}},
		{"command with separators", []string{"A=1"}, []string{"git", "log", "--", "x=y"}, []string{"A=1", "--", "git", "log", "--", "x=y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := initArgs(tt.env, tt.command); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAgentEnvNeverInContainerEnv checks that what agent.yaml's env and
// -e set reaches only the agent's command (moat-init's arguments), never
// the container's env that root in the container inherits, whatever the
// name (MOAT_* names are refused up front): moat's own variables there
// keep moat's values.
func TestAgentEnvNeverInContainerEnv(t *testing.T) {
	hostile := []string{"PATH=/workspace/.b:/usr/bin", "LD_PRELOAD=/workspace/evil.so", "LD_AUDIT=/workspace/a.so",
		"BASH_ENV=/workspace/x", "ENV=/workspace/x", "IFS=/", "HOME=/workspace", "DOCKER_CONFIG=/workspace/d",
		"SSL_CERT_FILE=/mine.pem"}
	tests := []struct {
		name, yaml string
		flags      []string
	}{
		{"agent.yaml", "env: {" + yamlMap(hostile) + "}\n", nil},
		{"-e", "", hostile},
		{"-e, policy none", "network: {policy: none}\n", hostile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, eng := newTestManager(t)
			ws := writeWorkspace(t, tt.yaml)
			opts := Options{Workspace: ws, Detach: true, Command: []string{"sh", "-c", "true"}, Env: tt.flags}
			if _, err := m.Run(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			spec := agentSpec(t, eng)
			for _, kv := range hostile {
				if slices.Contains(spec.Env, kv) {
					t.Errorf("container env has the agent's %s: root in the container inherits it", kv)
				}
			}
			if v := envValue(spec.Env, "SSL_CERT_FILE"); tt.yaml == "" && v != systemBundle {
				t.Errorf("container SSL_CERT_FILE=%q, want moat's %s", v, systemBundle)
			}
			env := agentEnviron(t, spec)
			for _, kv := range hostile {
				if !slices.Contains(env, kv) {
					t.Errorf("the agent's env %q lacks %s", env, kv)
				}
			}
			if cmd := spec.Cmd[slices.Index(spec.Cmd, initSeparator)+1:]; !slices.Equal(cmd, opts.Command) {
				t.Errorf("command %q, want %q", cmd, opts.Command)
			}
		})
	}
}

// yamlMap renders NAME=VALUE pairs as a YAML flow map's entries.
func yamlMap(kvs []string) string {
	var b []string
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		b = append(b, k+": '"+v+"'")
	}
	return strings.Join(b, ", ")
}
