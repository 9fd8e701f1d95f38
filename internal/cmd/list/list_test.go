package list

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

func TestWriteTable(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	seven := 7
	runs := []*state.Run{
		{ID: "aaa111bbb222", Name: "web", Status: state.Running, CreatedAt: now.Add(-90 * time.Second),
			Command: []string{"sh", "-c", "a very long command that goes on and on"}, Workspace: "/w"},
		{ID: "ccc333ddd444", Name: "tests", Status: state.Exited, ExitCode: &seven, CreatedAt: now.Add(-3 * time.Hour),
			Command: []string{"make", "test"}, Workspace: "/x"},
	}
	tests := []struct {
		name string
		tty  bool
		want string
	}{
		{name: "pipe: tab-separated, RFC 3339, untruncated", tty: false, want: "RUN ID\tNAME\tSTATE\tCREATED\tCOMMAND\tWORKSPACE\n" +
			"aaa111bbb222\tweb\trunning\t2026-11-28T11:58:30Z\tsh -c a very long command that goes on and on\t/w\n" +
			"ccc333ddd444\ttests\texited (7)\t2026-11-28T09:00:00Z\tmake test\t/x\n"},
		{name: "terminal: aligned, relative, shortened", tty: true, want: "" +
			"RUN ID        NAME   STATE       CREATED  COMMAND                         WORKSPACE\n" +
			"aaa111bbb222  web    running     1m ago   sh -c a very long command tha…  /w\n" +
			"ccc333ddd444  tests  exited (7)  3h ago   make test                       /x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeTable(&buf, runs, tt.tty, now); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestListRunsWithEngineDown(t *testing.T) {
	store := &state.Store{Root: t.TempDir()}
	if err := store.Create(&state.Run{ID: "abc123abc123", Name: "web", Status: state.Running, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := iostreams.Test()
	opts := &Options{
		IO:      ios,
		Manager: func(context.Context) (*run.Manager, error) { return nil, errors.New("cannot reach the Docker engine") },
		Store:   func() (*state.Store, error) { return store, nil },
		Now:     time.Now,
		Quiet:   true,
	}
	if err := listRuns(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != "abc123abc123\n" {
		t.Fatalf("stdout %q, want the stored run", out.String())
	}
	if want := "warning: states may be stale: cannot reach the Docker engine\n"; errOut.String() != want {
		t.Fatalf("stderr %q, want %q", errOut.String(), want)
	}
}

// TestWriteTableHostileFields: a command, name or workspace holding
// terminal control sequences (agent.yaml is the agent's) reaches the table
// without them, and cannot add rows or columns.
func TestWriteTableHostileFields(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	runs := []*state.Run{{ID: "aaa111bbb222", Name: "web\x1b]0;pwned\x07", Status: state.Running, CreatedAt: now,
		Command:   []string{"sh", "-c", "echo \x1b]52;c;aGVsbG8=\x07hi\x9b31m\nfake\trow"},
		Workspace: "/w/\x1bP$qm\x1b\\ws\r"}}
	for _, tty := range []bool{false, true} {
		var buf bytes.Buffer
		if err := writeTable(&buf, runs, tty, now); err != nil {
			t.Fatal(err)
		}
		got := buf.String()
		if strings.IndexFunc(got, isControl) >= 0 || !utf8.ValidString(got) {
			t.Errorf("tty %v: control characters in table %q", tty, got)
		}
		if n := strings.Count(got, "\n"); n != 2 {
			t.Errorf("tty %v: %d lines, want 2: %q", tty, n, got)
		}
		for _, visible := range []string{"web", "echo hi", "/w/ws"} {
			if !strings.Contains(got, visible) {
				t.Errorf("tty %v: %q missing from %q", tty, visible, got)
			}
		}
	}
}

// isControl reports a character a terminal acts on: C0 but tab and
// newline, DEL and C1.
func isControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f
}

// A run with a kept cache shows where the cache came from.
func TestWriteTableCacheOrigin(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	runs := []*state.Run{
		{ID: "aaa", Name: "cached", Status: state.Exited, CreatedAt: now, Command: []string{"true"}, Workspace: "/w",
			Volumes: []state.Volume{{Name: "moat-dind-cache-ns-1", Keep: true, CreatedBy: "bbb", ConfigDigest: "0123456789abcdef"}}},
		{ID: "ccc", Name: "plain", Status: state.Exited, CreatedAt: now, Command: []string{"true"}, Workspace: "/w"},
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, runs, false, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.HasSuffix(lines[0], "\tCACHE") || !strings.HasSuffix(lines[1], "\tmoat-dind-cache-ns-1 from run bbb, config 0123456789ab") || !strings.HasSuffix(lines[2], "\t-") {
		t.Fatalf("got\n%s", buf.String())
	}
}
