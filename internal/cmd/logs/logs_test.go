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

// hostile is agent output meant for the user's terminal: a clipboard write
// (OSC 52), a title change, device queries (DA, DECRQSS) and an 8-bit CSI.
const hostile = "a\x1b]52;c;cm0gLXJmIH4=\x07b\x1b]0;pwned\x07c\x1b[c\x1bP$qm\x1b\\d\u009b6ne\x1b[31mf\x1b[0m\n"

// Test_showLogsTerminal: on a terminal the log's control sequences are
// dropped and its text kept; into a pipe or a file the log is the agent's
// bytes, unchanged.
func Test_showLogsTerminal(t *testing.T) {
	mgr, eng := cmdtest.Manager(t)
	r := cmdtest.Detached(t, mgr, "web")
	eng.Containers[r.ContainerID].Logs = "2026-11-28T10:00:00Z " + hostile
	tests := []struct {
		name  string
		saved bool // the container is gone; the saved log is read
		tty   bool
		want  string
	}{
		{name: "live, terminal", tty: true, want: "2026-11-28T10:00:00Z abcdef\n"}, // the fake engine always adds the time
		{name: "saved, terminal", saved: true, tty: true, want: "abcdef\n"},
		{name: "saved, pipe", saved: true, tty: false, want: hostile},
	}
	exited := false
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.saved && !exited {
				eng.Exit(r.ContainerID, 0)
				exited = true
			}
			ios, _, out, _ := iostreams.Test()
			ios.SetTTY(false, tt.tty, tt.tty)
			opts := &Options{IO: ios, Ref: "web", Manager: func(context.Context) (*run.Manager, error) { return mgr, nil }}
			if err := showLogs(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
		})
	}
}
