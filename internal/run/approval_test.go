package run

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/termtext"
)

// noTerminal is a manager that cannot ask: a run needing approval fails.
func noTerminal(t *testing.T) *Manager {
	m, _ := newTestManager(t)
	m.AskApproval = nil
	withGrants(m)
	return m
}

func runWorkspace(m *Manager, ws string) error {
	_, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}})
	return err
}

func TestApprovalNeededForWhatWidens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string // each a line of the error
	}{
		{"grant", "grants: [github]\n", []string{"requests to api.github.com, github.com would carry the credential of grant github"}},
		{"mount", "mounts: [\"./data:/data:ro\"]\n", []string{"the agent could read WS/data (mounted at /data)"}},
		{"permissive", "network: {policy: permissive}\n", []string{"the agent could reach any public host"}},
		{"allow", "network: {allow: [api.example.com]}\n", []string{"the agent could reach api.example.com (network.allow)"}},
		{"request rules", "network: {allow: [{host: api.github.com, methods: [GET, HEAD], paths: [/repos/o/r/**, /user]}, {host: r.test, paths: [/a]}]}\n",
			[]string{"the agent could send GET requests to api.github.com, paths /repos/o/r/**, /user (network.allow)",
				"the agent could send HEAD requests to api.github.com, paths /repos/o/r/**, /user (network.allow)",
				"the agent could send requests of any method to r.test, paths /a (network.allow)"}},
		{"host to grant", "grants: [github]\nnetwork: {hosts: {api.github.com: 203.0.113.9}}\n",
			[]string{"the credentials of grant github would go to 203.0.113.9 (network.hosts sends api.github.com there)"}},
		{"plain host", "network: {hosts: {db.internal: 10.1.2.3}}\n", []string{"requests to db.internal would go to 10.1.2.3 (network.hosts)"}},
		{"ca with grant", "grants: [github]\nnetwork: {ca: ca.pem}\n",
			[]string{"the proxy would trust servers whose certificates ca.pem (sha256:", "could receive the credentials of grant github"}},
		{"env", "env: {LD_PRELOAD: /workspace/x.so}\n", []string{"the agent's environment would set LD_PRELOAD=/workspace/x.so"}},
		{"npm package", "dependencies: [node@22, \"npm:left-pad@1.3.0\"]\n", []string{"the image build would install npm:left-pad@1.3.0, running its install scripts as root"}},
		{"port on every address", "ports: [\"0.0.0.0:8080:3000\", \"8081:3001\"]\n",
			[]string{"other machines could connect to the agent's server through 0.0.0.0:8080:3000 (ports)"}},
		{"env with escape", "env: {X: \"\\e]52;c;AAAA\\a\"}\n", []string{`the agent's environment would set X="\x1b]52;c;AAAA\a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := noTerminal(t)
			ws := writeWorkspace(t, tt.yaml)
			os.Mkdir(filepath.Join(ws, "data"), 0o755)
			os.WriteFile(filepath.Join(ws, "ca.pem"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o644)
			err := runWorkspace(m, ws)
			var na *NotApprovedError
			if !errors.As(err, &na) {
				t.Fatalf("got %v, want a NotApprovedError", err)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "WS", ws); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.ContainsRune(err.Error(), 0x1b) {
				t.Errorf("error carries an escape: %q", err)
			}
			if !strings.Contains(na.Hint(), "moat trust "+termtext.ShellQuote(ws)) {
				t.Errorf("hint %q does not name moat trust", na.Hint())
			}
			if runs, _ := m.Store.List(); len(runs) != 0 {
				t.Errorf("a refused run left %d records", len(runs))
			}
		})
	}
}

func TestApprovalDefaultSandboxNeedsNone(t *testing.T) {
	t.Parallel()
	for _, yaml := range []string{"", "name: x\ndependencies: [git]\ncommand: [make]\n", "network: {policy: strict}\n", "network: {policy: none}\n"} {
		m := noTerminal(t)
		if err := runWorkspace(m, writeWorkspace(t, yaml)); err != nil {
			t.Errorf("%q: %v", yaml, err)
		}
	}
}

// TestApprovalPinsWhatWasApproved approves a config, then changes it the
// way an agent would between runs.
func TestApprovalPinsWhatWasApproved(t *testing.T) {
	t.Parallel()
	m := noTerminal(t)
	ws := writeWorkspace(t, "grants: [github]\nmounts: [\"./data:/data\"]\nnetwork: {ca: ca.pem, allow: [a.example.com, b.example.com]}\n")
	os.Mkdir(filepath.Join(ws, "data"), 0o755)
	writeCA := func(s string) { os.WriteFile(filepath.Join(ws, "ca.pem"), []byte(s), 0o644) }
	writeCA("one")
	review, err := m.Review(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	// All adds the default network; a writable mount is one line.
	if len(review.All) != 6 || len(review.New) != 5 {
		t.Fatalf("review: all %q new %q, want 6 and 5", review.All, review.New)
	}
	if err := m.ApproveReview(review); err != nil {
		t.Fatal(err)
	}
	if err := runWorkspace(m, ws); err != nil {
		t.Fatalf("approved config: %v", err)
	}
	narrow := "grants: [github]\nmounts: [\"./data:/data:ro\"]\nnetwork: {ca: ca.pem, allow: [a.example.com]}\n"
	if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte(narrow), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runWorkspace(m, ws); err != nil {
		t.Fatalf("narrowed config: %v", err)
	}
	writeCA("two") // same path, other content
	var na *NotApprovedError
	if err := runWorkspace(m, ws); !errors.As(err, &na) || !strings.Contains(err.Error(), "ca.pem (sha256:") {
		t.Fatalf("changed CA content: got %v, want it to need approval", err)
	}
	writeCA("one")
	os.Remove(filepath.Join(ws, "data"))
	other := t.TempDir()
	if err := os.Symlink(other, filepath.Join(ws, "data")); err != nil {
		t.Fatal(err)
	}
	if err := runWorkspace(m, ws); err == nil || !strings.Contains(err.Error(), "outside the workspace") {
		t.Fatalf("mount retargeted by a link: got %v, want it refused", err)
	}
}

// TestApprovalOfRequestRules approves an entry with methods and paths,
// then changes it: a method or path more, or the entry made plain, needs
// approval again; fewer methods or paths do not.
func TestApprovalOfRequestRules(t *testing.T) {
	t.Parallel()
	m := noTerminal(t)
	ws := writeWorkspace(t, "network: {allow: [{host: api.test, methods: [GET, HEAD], paths: [/a/**, /b]}, c.test]}\n")
	review, err := m.Review(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApproveReview(review); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		allow string
		wide  string // "" when no approval is needed
	}{
		{"[{host: api.test, methods: [GET, HEAD], paths: [/a/**, /b]}, c.test]", ""},
		{"[{host: api.test, read-only: true, paths: [/b]}]", ""},
		{"[{host: api.test, methods: [GET], paths: [/a/**]}]", ""},
		{"[{host: c.test, methods: [POST, DELETE]}]", ""},
		{"[{host: api.test, methods: [GET, POST], paths: [/b]}]", "the agent could send POST requests to api.test, paths /b"},
		{"[{host: api.test, methods: [GET], paths: [/c]}]", "the agent could send GET requests to api.test, paths /c"},
		{"[{host: api.test, methods: [GET]}]", "the agent could send GET requests to api.test (network.allow)"},
		{"[{host: api.test, paths: [/b]}]", "the agent could send requests of any method to api.test, paths /b"},
		{"[api.test]", "the agent could reach api.test (network.allow)"},
	} {
		if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte("network: {allow: "+tt.allow+"}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := runWorkspace(m, ws)
		var na *NotApprovedError
		switch {
		case tt.wide == "" && err != nil:
			t.Errorf("%s: %v, want no approval needed", tt.allow, err)
		case tt.wide != "" && (!errors.As(err, &na) || len(na.Changes) != 1 || !strings.HasPrefix(na.Changes[0], tt.wide)):
			t.Errorf("%s: got %v, want approval of just %q", tt.allow, err, tt.wide)
		}
	}
}

func TestApprovalAskedAndRecorded(t *testing.T) {
	t.Parallel()
	m := noTerminal(t)
	ws := writeWorkspace(t, "env: {A: b}\n")
	var asked []ApprovalRequest
	answer := false
	m.AskApproval = func(r ApprovalRequest) (bool, error) { asked = append(asked, r); return answer, nil }
	var na *NotApprovedError
	if err := runWorkspace(m, ws); !errors.As(err, &na) || !na.Declined {
		t.Fatalf("declined: got %v, want a declined NotApprovedError", err)
	}
	answer = true
	if err := runWorkspace(m, ws); err != nil {
		t.Fatal(err)
	}
	if err := runWorkspace(m, ws); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || !asked[0].First || asked[1].Changes[0] != "the agent's environment would set A=b" {
		t.Fatalf("asked %+v, want two first-time requests and no third", asked)
	}
}

// TestApprovalOfTunnelOnly: declaring an allowed host tunnel-only turns
// the proxy's checks off there, so it needs approval even when the host
// was approved; dropping it does not.
func TestApprovalOfTunnelOnly(t *testing.T) {
	t.Parallel()
	m := noTerminal(t)
	ws := writeWorkspace(t, "network: {allow: [pinned.test, other.test]}\n")
	review, err := m.Review(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApproveReview(review); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte("network: {allow: [{host: pinned.test, tunnel-only: true}, other.test]}\n"), 0o644)
	err = runWorkspace(m, ws)
	var na *NotApprovedError
	if !errors.As(err, &na) || len(na.Changes) != 1 || !strings.Contains(na.Changes[0], "connections to pinned.test would not be opened") {
		t.Fatalf("tunnel-only on an approved host: %v, want approval of just that", err)
	}
	review, err = m.Review(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApproveReview(review); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte("network: {allow: [pinned.test]}\n"), 0o644)
	if err := runWorkspace(m, ws); err != nil {
		t.Errorf("dropping tunnel-only and a host: %v, want no approval needed", err)
	}
}
