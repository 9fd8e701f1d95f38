package policy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmd/cmdtest"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

func TestNewCmdSuggest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    SuggestOptions
		wantErr string
	}{
		{name: "defaults", want: SuggestOptions{}},
		{name: "a run and --json", args: []string{"web", "--json"}, want: SuggestOptions{Ref: "web", JSON: true}},
		{name: "two runs", args: []string{"a", "b"}, wantErr: "'suggest' takes at most 1 argument, not 2\n\nUsage: suggest [run] [flags]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ios, err := cmdtest.Parse(NewCmdSuggest, tt.args)
			if ok, why := cmdtest.WantError(err, tt.wantErr); !ok {
				t.Fatal(why)
			}
			if tt.wantErr != "" {
				return
			}
			if got.Ref != tt.want.Ref || got.JSON != tt.want.JSON || got.IO != ios {
				t.Fatalf("got ref %q json %v, want %+v", got.Ref, got.JSON, tt.want)
			}
		})
	}
}

const runID = "abc123abc123"

var t0 = time.Date(2026, 11, 28, 10, 0, 4, 0, time.UTC)

// requests are what the proxy of a permissive run records: a grant's
// host, a host on another port, a plain one, a private address refused
// and a name refused for the private address it resolved to.
func requests() []audit.Event {
	n := 0
	ev := func(kind, method, scheme, host, decision string) audit.Event {
		n++
		return audit.Event{Kind: kind, Data: map[string]string{
			audit.NetTime: t0.Add(time.Duration(n) * time.Second).Format(time.RFC3339Nano), audit.NetMethod: method,
			audit.NetScheme: scheme, audit.NetHost: host, audit.NetStatus: "200", audit.NetDecision: decision}}
	}
	return []audit.Event{
		{Kind: audit.KindRunCreated},
		ev(audit.KindNetRequest, "GET", "https", "api.github.com", "allow"),
		ev(audit.KindNetRequest, "CONNECT", "tunnel", "registry.example.com:8443", "allow"),
		ev(audit.KindNetRequest, "GET", "http", "deb.example.org", "allow"),
		ev(audit.KindNetRequest, "CONNECT", "tunnel", "registry.example.com:8443", "allow"),
		ev(audit.KindNetDenied, "CONNECT", "", "10.0.0.5:5432", "deny: 10.0.0.5 is a private address (RFC 1918)"),
		ev(audit.KindNetDenied, "CONNECT", "", "db.example.org", `deny: "db.example.org" resolves to 192.168.7.7, a private address (RFC 1918)`),
	}
}

// setup stores a run of a workspace holding agentYAML ("" for none) with
// events in its audit log, and returns options for the command on it.
func setup(t *testing.T, agentYAML string, events []audit.Event) (*SuggestOptions, string, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	m, _ := cmdtest.Manager(t)
	ws := t.TempDir()
	if agentYAML != "" {
		if err := os.WriteFile(filepath.Join(ws, "agent.yaml"), []byte(agentYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code := 0
	r := &state.Run{ID: runID, Name: "web", Workspace: ws, Status: state.Exited, ExitCode: &code, CreatedAt: t0, Grants: []string{"github"}}
	if err := m.Store.Create(r); err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	l, err := audit.Open(m.Store.Path(runID, run.AuditFile), runID, key, audit.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendBatch(events, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	grants := grant.NewStore(filepath.Join(keys, "grants"), grant.FileKey(filepath.Join(keys, "grants.key")))
	if err := grants.Put(grant.Grant{Name: "github", Kind: "github"}, grant.NewSecret([]byte("ghp_"+strings.Repeat("a", 36)))); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := iostreams.Test()
	return &SuggestOptions{
		IO:      ios,
		Manager: func(context.Context) (*run.Manager, error) { return m, nil },
		Store:   func() (*state.Store, error) { return m.Store, nil },
		Grants:  func() (*grant.Store, error) { return grants, nil },
	}, ws, out, errOut
}

const riskyList = `Not added, risky (commented out in the diff; uncomment one only if you mean it):
  10.0.0.5:5432: 10.0.0.5 is a private address (RFC 1918)
    it would allow any connection to 10.0.0.5 on port 5432 (a private address (RFC 1918)), under any name that resolves there
  192.168.7.7:443: "db.example.org" resolved to 192.168.7.7, a private address (RFC 1918)
    it would allow any connection to 192.168.7.7 on port 443 (a private address (RFC 1918)), under any name that resolves there
`

func TestSuggestDiff(t *testing.T) {
	t.Parallel()
	yaml := "# my agent\nname: web\nnetwork:\n  policy: permissive  # for now\n"
	opts, ws, out, errOut := setup(t, yaml, requests())
	if err := suggestRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	want := "--- a/agent.yaml\n+++ b/agent.yaml\n@@ -1,4 +1,10 @@\n # my agent\n name: web\n network:\n" +
		"-  policy: permissive  # for now\n+  policy: strict  # for now\n" +
		"+  allow:\n+    - db.example.org\n+    - deb.example.org\n+    - \"registry.example.com:8443\"\n" +
		"+    # - \"10.0.0.5:5432\"  # not added, risky: 10.0.0.5 is a private address (RFC 1918)\n" +
		"+    # - \"192.168.7.7:443\"  # not added, risky: \"db.example.org\" resolved to 192.168.7.7, a private address (RFC 1918)\n"
	if out.String() != want {
		t.Fatalf("stdout\n%s\nwant\n%s", out.String(), want)
	}
	wantErr := riskyList +
		"network.policy set to strict and 3 rules to add, 2 risky ones commented out for " + filepath.Join(ws, "agent.yaml") + ". To apply it and approve the change:\n" +
		"  moat policy suggest " + runID + " | patch -d " + ws + " -p1\n  moat trust " + ws + "\n"
	if errOut.String() != wantErr {
		t.Fatalf("stderr\n%s\nwant\n%s", errOut.String(), wantErr)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "agent.yaml")); string(b) != yaml {
		t.Fatalf("agent.yaml changed: %q", b)
	}
}

func TestSuggestNothingToAdd(t *testing.T) {
	t.Parallel()
	yaml := "network:\n  allow: [db.example.org, deb.example.org, \"registry.example.com:8443\"]\n"
	opts, ws, out, errOut := setup(t, yaml, requests())
	if err := suggestRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	want := riskyList +
		"Nothing to add: " + filepath.Join(ws, "agent.yaml") + " already allows every request of run " + runID + " but 2 risky destinations listed above.\n"
	if out.String() != "" || errOut.String() != want {
		t.Fatalf("stdout %q, stderr\n%s\nwant nothing and\n%s", out.String(), errOut.String(), want)
	}
}

func TestSuggestNoAgentYAML(t *testing.T) {
	t.Parallel()
	opts, _, out, _ := setup(t, "", requests()[:3])
	if err := suggestRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	want := "--- /dev/null\n+++ b/agent.yaml\n@@ -0,0 +1,3 @@\n+network:\n+  allow:\n+    - \"registry.example.com:8443\"\n"
	if out.String() != want {
		t.Fatalf("stdout\n%s\nwant\n%s", out.String(), want)
	}
}

func TestSuggestFlowNetworkPrintsTheBlock(t *testing.T) {
	t.Parallel()
	opts, ws, out, _ := setup(t, "network: {policy: permissive}\n", requests()[:3])
	err := suggestRun(context.Background(), opts)
	wantErr := "cannot edit " + filepath.Join(ws, "agent.yaml") + " safely: line 1: network is written in flow style ({...})"
	if err == nil || err.Error() != wantErr {
		t.Fatalf("got error %v, want %q", err, wantErr)
	}
	wantHint := "Add this to its network section by hand:\n\nnetwork:\n  policy: strict\n  allow:\n    - \"registry.example.com:8443\"\n"
	if hint := cmdutil.HintOf(err); hint != wantHint || out.String() != "" {
		t.Fatalf("hint\n%s\nstdout %q; want\n%s", hint, out.String(), wantHint)
	}
}

func TestSuggestJSON(t *testing.T) {
	t.Parallel()
	opts, ws, out, _ := setup(t, "network: {policy: permissive}\n", requests())
	opts.JSON = true
	if err := suggestRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
	}
	want := `{
  "run": "abc123abc123",
  "file": "` + filepath.Join(ws, "agent.yaml") + `",
  "set_strict": true,
  "allow": [
    {
      "rule": "db.example.org",
      "reached": [
        "db.example.org:443"
      ]
    },`
	if !strings.HasPrefix(out.String(), want) {
		t.Fatalf("stdout\n%s\nwant it to start with\n%s", out.String(), want)
	}
	if risky := got["risky"].([]any); len(risky) != 2 || risky[0].(map[string]any)["reason"] == "" {
		t.Fatalf("risky %v, want two with their reasons", risky)
	}
}

func TestSuggestHostileAgentYAML(t *testing.T) {
	t.Parallel()
	for name, yaml := range map[string]string{
		"unknown field": "nme: web\n",
		"too deep":      strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n",
		"too large":     "name: web\n" + strings.Repeat("# padding\n", 110_000),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts, ws, out, _ := setup(t, yaml, requests())
			err := suggestRun(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(ws, "agent.yaml")) || out.String() != "" {
				t.Fatalf("got error %v, stdout %q; want an error naming agent.yaml and no diff", err, out.String())
			}
		})
	}
	t.Run("a link out of the workspace", func(t *testing.T) {
		t.Parallel()
		opts, ws, out, _ := setup(t, "", requests())
		outside := filepath.Join(t.TempDir(), "secret.yaml")
		os.WriteFile(outside, []byte("name: x\n"), 0o644)
		if err := os.Symlink(outside, filepath.Join(ws, "agent.yaml")); err != nil {
			t.Fatal(err)
		}
		err := suggestRun(context.Background(), opts)
		if err == nil || !strings.Contains(err.Error(), "reading "+filepath.Join(ws, "agent.yaml")) || out.String() != "" {
			t.Fatalf("got error %v, stdout %q; want a read error and no diff", err, out.String())
		}
	})
}
