package run

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
)

func TestNewCmdRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{name: "no args", args: nil, want: Options{}},
		{name: "path only", args: []string{"./p"}, want: Options{Workspace: "./p"}},
		{name: "command only", args: []string{"--", "make", "test"}, want: Options{Command: []string{"make", "test"}}},
		{
			name: "path, flags and command",
			args: []string{"-e", "A=1", "--env", "B", "-n", "web", "--rebuild", "--keep", "./p", "--", "sh", "-c", "exit 7"},
			want: Options{Workspace: "./p", Env: []string{"A=1", "B"}, Name: "web", Rebuild: true, Keep: true, Command: []string{"sh", "-c", "exit 7"}},
		},
		{name: "flags after path", args: []string{"./p", "-d"}, want: Options{Workspace: "./p", Detach: true}},
		{name: "-it", args: []string{"-it", "./p", "--", "bash"}, want: Options{Workspace: "./p", Interactive: true, TTY: true, Command: []string{"bash"}}},
		{name: "command flags are not moat's", args: []string{"--", "ls", "-d"}, want: Options{Command: []string{"ls", "-d"}}},
		{name: "two paths", args: []string{"a", "b"}, wantErr: `expected at most one workspace path before --, got ["a" "b"]; put the command after --`},
		{name: "detached with a terminal, for moat attach", args: []string{"-d", "-it"}, want: Options{Detach: true, Interactive: true, TTY: true}},
		{
			name: "a cluster", args: []string{"--runtime", "kubernetes", "--context", "lab", "--namespace", "agents", "./p"},
			want: Options{Workspace: "./p", Runtime: cmdutil.RuntimeChoice{Runtime: "kubernetes", Context: "lab", Namespace: "agents"}},
		},
		// Without --runtime, config.yaml may choose Kubernetes: the factory
		// checks the resolved runtime.
		{name: "context alone", args: []string{"--context", "lab"}, want: Options{Runtime: cmdutil.RuntimeChoice{Context: "lab"}}},
		{name: "unknown runtime", args: []string{"--runtime", "k8s"}, wantErr: `invalid --runtime "k8s": use one of docker, kubernetes`},
		{name: "bad namespace", args: []string{"--runtime", "kubernetes", "--namespace", "Agents"},
			wantErr: `invalid --namespace "Agents": a namespace is lower-case letters, digits and '-', at most 63`},
		{name: "namespace with docker", args: []string{"--runtime", "docker", "--namespace", "agents"},
			wantErr: "--context and --namespace select a Kubernetes cluster, and this run uses the docker runtime; add --runtime kubernetes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var got *Options
			cmd := NewCmdRun(&cmdutil.Factory{IOStreams: ios}, func(_ context.Context, o *Options) error {
				got = o
				return nil
			})
			cmd.SetArgs(tt.args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				var flagErr *cmdutil.FlagError
				if !errors.As(err, &flagErr) || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.Workspace != w.Workspace || got.Name != w.Name || got.Detach != w.Detach || got.Interactive != w.Interactive ||
				got.TTY != w.TTY || got.Rebuild != w.Rebuild || got.Keep != w.Keep || got.Runtime != w.Runtime ||
				!slices.Equal(got.Env, w.Env) || !slices.Equal(got.Command, w.Command) {
				t.Fatalf("got %+v, want %+v", *got, w)
			}
		})
	}
}
