package list

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moatsh/moat/internal/cmdutil"
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

// listFixture stores runs in every state and returns options listing them
// with the engine down (the records as they are).
func listFixture(t *testing.T) (*Options, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	store := &state.Store{Root: t.TempDir()}
	created := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	zero, one := 0, 1
	for i, r := range []*state.Run{
		{ID: "aaa111", Name: "web", Status: state.Running, Workspace: "/w/site", Command: []string{"serve"}},
		{ID: "bbb222", Name: "tests", Status: state.Exited, ExitCode: &one, Workspace: "/w/site", Command: []string{"make", "test"}},
		{ID: "ccc333", Name: "web-old", Status: state.Exited, ExitCode: &zero, Workspace: "/w/other"},
		{ID: "ddd444", Name: "lost", Status: state.Lost, Workspace: "/w/other"},
	} {
		r.CreatedAt = created.Add(time.Duration(-i) * time.Minute)
		if err := store.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	ios, _, out, errOut := iostreams.Test()
	return &Options{
		IO:      ios,
		Manager: func(context.Context) (*run.Manager, error) { return nil, errors.New("engine down") },
		Store:   func() (*state.Store, error) { return store, nil },
		Now:     func() time.Time { return created },
	}, out, errOut
}

// Every output shows the same runs: active ones unless -a, narrowed by
// the filters; a state or exited filter implies -a, like docker ps.
func TestListSelection(t *testing.T) {
	tests := []struct {
		name    string
		all     bool
		filters []string
		want    string
	}{
		{name: "active only by default", want: "aaa111\n"},
		{name: "all", all: true, want: "aaa111\nbbb222\nccc333\nddd444\n"},
		{name: "name contains", all: true, filters: []string{"name=web"}, want: "aaa111\nccc333\n"},
		{name: "id prefix", all: true, filters: []string{"id=bb"}, want: "bbb222\n"},
		{name: "state implies all", filters: []string{"state=exited"}, want: "bbb222\nccc333\n"},
		{name: "status is state, values alternatives", filters: []string{"status=lost", "state=running"}, want: "aaa111\nddd444\n"},
		{name: "exited code", filters: []string{"exited=1"}, want: "bbb222\n"},
		{name: "keys all match", all: true, filters: []string{"workspace=/w/other", "name=web"}, want: "ccc333\n"},
		{name: "workspace without -a", filters: []string{"workspace=/w/other"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"quiet", "json", "format"} {
				opts, out, _ := listFixture(t)
				opts.All, opts.Filters = tt.all, tt.filters
				switch mode {
				case "quiet":
					opts.Quiet = true
				case "json":
					opts.JSON = true
				case "format":
					opts.Format = "{{.ID}}"
				}
				if err := listRuns(context.Background(), opts); err != nil {
					t.Fatal(err)
				}
				got := out.String()
				if mode == "json" {
					var runs []struct{ ID string }
					if err := json.Unmarshal(out.Bytes(), &runs); err != nil {
						t.Fatal(err)
					}
					got = ""
					for _, r := range runs {
						got += r.ID + "\n"
					}
				}
				if got != tt.want {
					t.Errorf("%s: got %q, want %q", mode, got, tt.want)
				}
			}
		})
	}
}

func TestListFilterErrors(t *testing.T) {
	tests := []struct{ filter, want string }{
		{"color=red", `invalid filter key "color": valid keys are exited, id, name, state, status, workspace`},
		{"state=done", `invalid filter state="done": valid states are created, running, exited, stopped, failed, lost`},
		{"exited=x", `invalid filter exited="x": want an exit code`},
		{"name", `invalid filter "name": want KEY=VALUE`},
	}
	for _, tt := range tests {
		opts, _, _ := listFixture(t)
		opts.Filters = []string{tt.filter}
		err := listRuns(context.Background(), opts)
		var flagErr *cmdutil.FlagError
		if !errors.As(err, &flagErr) || err.Error() != tt.want {
			t.Errorf("--filter %s: got %v, want the usage error %q", tt.filter, err, tt.want)
		}
	}
}

func TestListFormat(t *testing.T) {
	tests := []struct{ format, want string }{
		{`{{.ID}} {{.Status}} {{.CommandLine}}`, "aaa111 running serve\nbbb222 exited (1) make test\nccc333 exited (0) \nddd444 lost \n"},
		{`table {{.ID}}\t{{.Name}}`, "RUN ID   NAME\naaa111   web\nbbb222   tests\nccc333   web-old\nddd444   lost\n"},
		{`{{json .Command}}`, "[\"serve\"]\n[\"make\",\"test\"]\n[]\n[]\n"},
		{`{{join .Command "+"}}|{{upper .Name}}`, "serve|WEB\nmake+test|TESTS\n|WEB-OLD\n|LOST\n"},
	}
	for _, tt := range tests {
		opts, out, _ := listFixture(t)
		opts.All, opts.Format = true, tt.format
		if err := listRuns(context.Background(), opts); err != nil {
			t.Fatalf("%s: %v", tt.format, err)
		}
		if out.String() != tt.want {
			t.Errorf("--format %s: got\n%q\nwant\n%q", tt.format, out.String(), tt.want)
		}
	}
	opts, _, _ := listFixture(t)
	opts.Format = "{{.Nope}}"
	var flagErr *cmdutil.FlagError
	if err := listRuns(context.Background(), opts); !errors.As(err, &flagErr) || !strings.Contains(err.Error(), "there is no field .Nope") || !strings.Contains(cmdutil.HintOf(err), ".Name") {
		t.Errorf("unknown field: got %v, want a usage error naming it", err)
	}
}

// TestListJSONShape pins --json's keys: every key always there, lists []
// when empty, values not there yet null.
func TestListJSONShape(t *testing.T) {
	opts, out, _ := listFixture(t)
	opts.JSON, opts.All, opts.Filters = true, true, []string{"id=ddd"}
	if err := listRuns(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "id": "ddd444",
    "name": "lost",
    "state": "lost",
    "exit_code": null,
    "error": "",
    "workspace": "/w/other",
    "command": [],
    "image": "",
    "image_hash": "",
    "dependencies": [],
    "container_id": "",
    "detached": false,
    "keep": false,
    "tty": false,
    "created_at": "2026-11-28T11:57:00Z",
    "started_at": null,
    "finished_at": null,
    "moat_version": "",
    "policy": "",
    "grants": [],
    "privileges": [],
    "volumes": [],
    "sidecars": [],
    "limits": null,
    "ports": []
  }
]
`
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

// TestListTablePorts shows the PORTS column, as docker ps does, once a
// listed run publishes a port, and "-" for a run without.
func TestListTablePorts(t *testing.T) {
	created := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	runs := []*state.Run{
		{ID: "aaa111", Name: "web", Status: state.Running, CreatedAt: created, Workspace: "/w",
			Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 3000}, {HostIP: "::1", HostPort: 8081, ContainerPort: 3001}}},
		{ID: "bbb222", Name: "job", Status: state.Running, CreatedAt: created, Workspace: "/w"},
	}
	var out strings.Builder
	if err := writeTable(&out, runs, false, created); err != nil {
		t.Fatal(err)
	}
	want := "RUN ID\tNAME\tSTATE\tCREATED\tCOMMAND\tWORKSPACE\tPORTS\n" +
		"aaa111\tweb\trunning\t2026-11-28T12:00:00Z\t\t/w\t127.0.0.1:8080->3000/tcp, [::1]:8081->3001/tcp\n" +
		"bbb222\tjob\trunning\t2026-11-28T12:00:00Z\t\t/w\t-\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
}
