package list

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
)

func TestWriteTable(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	grants := []grant.Grant{
		{Name: "github", Kind: grant.GitHub, Hosts: []string{"api.github.com", "github.com"}, Header: "Authorization", CreatedAt: at},
		{Name: "internal-api", Kind: grant.HTTP, Hosts: []string{"api.example.com"}, Header: "X-Api-Key", CreatedAt: at.Add(time.Hour)},
		{Name: "deploy", Kind: grant.SSH, Hosts: []string{"github.com", "git.example.com:2222"}, CreatedAt: at,
			SSH: &grant.SSHKey{Source: grant.SSHFromAgent, Fingerprint: "SHA256:abc"}},
	}
	tests := []struct {
		name string
		tty  bool
		want string
	}{
		{name: "pipe: tab-separated, RFC 3339", want: "NAME\tKIND\tHOSTS\tHEADER\tCREATED\tKEY\n" +
			"github\tgithub\tapi.github.com,github.com\tAuthorization\t2026-11-28T12:00:00Z\t-\n" +
			"internal-api\thttp\tapi.example.com\tX-Api-Key\t2026-11-28T13:00:00Z\t-\n" +
			"deploy\tssh\tgithub.com,git.example.com:2222\t-\t2026-11-28T12:00:00Z\tSHA256:abc (agent)\n"},
		{name: "terminal: aligned, dates", tty: true, want: "" +
			"NAME          KIND    HOSTS                            HEADER         CREATED     KEY\n" +
			"github        github  api.github.com,github.com        Authorization  " + at.Local().Format(time.DateOnly) + "  -\n" +
			"internal-api  http    api.example.com                  X-Api-Key      " + at.Add(time.Hour).Local().Format(time.DateOnly) + "  -\n" +
			"deploy        ssh     github.com,git.example.com:2222  -              " + at.Local().Format(time.DateOnly) + "  SHA256:abc (agent)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := writeTable(&buf, grants, tt.tty); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestListGrants(t *testing.T) {
	t.Parallel()
	const secret = "sk-list-test-SECRET"
	full := grant.NewStore(filepath.Join(t.TempDir(), "grants"), grant.FileKey(filepath.Join(t.TempDir(), "k")))
	if err := full.Put(grant.Grant{Name: "openai", Kind: grant.OpenAI}, grant.NewSecret([]byte(secret))); err != nil {
		t.Fatal(err)
	}
	empty := grant.NewStore(filepath.Join(t.TempDir(), "none"), grant.FileKey(filepath.Join(t.TempDir(), "k")))
	tests := []struct {
		name                string
		store               *grant.Store
		json, tty           bool
		wantOut, wantErrOut string
	}{
		{name: "none, piped: the header alone", store: empty, wantOut: "NAME\tKIND\tHOSTS\tHEADER\tCREATED\tKEY\n"},
		{name: "none, on a terminal: a hint", store: empty, tty: true,
			wantErrOut: "No grants. Store one with 'moat grant github' (or anthropic, claude, codex, openai, gemini, http, ssh).\n"},
		{name: "none, json", store: empty, json: true, wantOut: "[]\n"},
		{name: "json", store: full, json: true},
		{name: "table", store: full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, errOut := iostreams.Test()
			ios.SetTTY(false, tt.tty, tt.tty)
			o := &Options{IO: ios, Grants: func() (*grant.Store, error) { return tt.store, nil }, JSON: tt.json}
			if err := listGrants(o); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out.Bytes(), []byte(secret)) || bytes.Contains(errOut.Bytes(), []byte(secret)) {
				t.Fatal("the listing shows the secret")
			}
			if tt.store == full && tt.json {
				var got []map[string]any
				if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 1 || got[0]["name"] != "openai" ||
					got[0]["kind"] != "openai" || got[0]["header"] != "Authorization" || got[0]["created_at"] == nil {
					t.Fatalf("json %s (%v), want one openai grant", out, err)
				}
				return
			}
			if tt.store == full {
				if !bytes.HasPrefix(out.Bytes(), []byte("NAME\tKIND\tHOSTS\tHEADER\tCREATED\tKEY\nopenai\topenai\tapi.openai.com\tAuthorization\t")) {
					t.Fatalf("table %q, want the openai grant", out)
				}
				return
			}
			if out.String() != tt.wantOut || errOut.String() != tt.wantErrOut {
				t.Fatalf("stdout %q stderr %q, want %q and %q", out, errOut, tt.wantOut, tt.wantErrOut)
			}
		})
	}
}

// TestListGrantsScripting: -q prints names alone, --format runs a template
// per grant (a table one with a header), and the secret is in neither.
func TestListGrantsScripting(t *testing.T) {
	t.Parallel()
	const secret = "sk-format-test-SECRET"
	store := grant.NewStore(filepath.Join(t.TempDir(), "grants"), grant.FileKey(filepath.Join(t.TempDir(), "k")))
	for _, g := range []grant.Grant{{Name: "openai", Kind: grant.OpenAI}, {Name: "api", Kind: grant.HTTP, Hosts: []string{"a.example.com", "b.example.com"}, Header: "X-Key"}} {
		if err := store.Put(g, grant.NewSecret([]byte(secret))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		quiet bool
		// format is --format's value
		format, want string
	}{
		{name: "quiet", quiet: true, want: "api\nopenai\n"},
		{name: "format", format: `{{.Name}}={{join .Hosts ","}}`, want: "api=a.example.com,b.example.com\nopenai=api.openai.com\n"},
		{name: "table", format: `table {{.Name}}\t{{.Kind}}`, want: "NAME     KIND\napi      http\nopenai   openai\n"},
	}
	for _, tt := range tests {
		ios, _, out, _ := iostreams.Test()
		o := &Options{IO: ios, Grants: func() (*grant.Store, error) { return store, nil }, Quiet: tt.quiet, Format: tt.format}
		if err := listGrants(o); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if out.String() != tt.want || strings.Contains(out.String(), secret) {
			t.Errorf("%s: got %q, want %q", tt.name, out, tt.want)
		}
	}
}
