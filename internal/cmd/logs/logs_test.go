package logs

import (
	"context"
	"testing"

	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
)

func Test_showLogs(t *testing.T) {
	mgr, eng := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "web")
	eng.Containers[r.ContainerID].Logs = "2026-11-28T10:00:00Z first\n2026-11-28T10:00:01Z second\n"
	eng.Exit(r.ContainerID, 0) // ends while no moat process watches; logs then saved
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "all", opts: Options{Ref: "web"}, want: "first\nsecond\n"},
		{name: "last line", opts: Options{Ref: "web", Tail: 1}, want: "second\n"},
		{name: "timestamps", opts: Options{Tail: 1, Timestamps: true}, want: "2026-11-28T10:00:01Z second\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, _ := iostreams.Test()
			tt.opts.IO, tt.opts.Manager = ios, func(context.Context) (*run.Manager, error) { return mgr, nil }
			if err := showLogs(context.Background(), &tt.opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
		})
	}
}
