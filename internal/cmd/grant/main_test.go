package grant_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/cmd/root"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
)

// secret is recognisable in any output it might leak into.
const secret = "ghp_MOATTESTSECRET4f1d9c27"

// TestSecretNeverPrinted runs grant, grant list and revoke through Main,
// on success and failure paths, and checks the secret appears in no
// output, no error and no file in plain text, and that exit codes follow
// the style guide (1 failure, 2 usage). It sets environment variables and
// PATH, so it does not run in parallel.
func TestSecretNeverPrinted(t *testing.T) {
	for _, k := range []string{"GITHUB_TOKEN", "GH_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"} {
		t.Setenv(k, "")
	}
	t.Setenv("PATH", t.TempDir()) // no gh
	home := t.TempDir()
	store := grant.NewStore(filepath.Join(home, "grants"), grant.FileKey(filepath.Join(home, "keys", "grants.key")))
	steps := []struct {
		args     []string
		stdin    string
		env      string // GITHUB_TOKEN for this step
		wantCode int
		wantOut  string // in stdout or stderr
	}{
		{args: []string{"grant", "github", "--token", secret}, wantOut: "Granted github"},
		{args: []string{"grant", "github"}, env: secret, wantOut: "Replaced grant github"},
		{args: []string{"grant", "anthropic", "--token-stdin"}, stdin: secret + "\n", wantOut: "Granted anthropic"},
		{args: []string{"grant", "http", "internal-api", "--host", "api.example.com", "--header", "Authorization", "--token-stdin"},
			stdin: "Bearer " + secret, wantOut: "Granted internal-api (api.example.com)"},
		{args: []string{"grant", "list"}, wantOut: "internal-api\thttp\tapi.example.com\tAuthorization\t"},
		{args: []string{"grant", "list", "--json"}, wantOut: `"name": "anthropic"`},
		{args: []string{"grant", "github", secret}, wantCode: 2, wantOut: "takes no arguments"},
		{args: []string{"grant", secret}, wantCode: 2, wantOut: "unknown grant kind: must be"},
		{args: []string{"grant", "gitlab"}, wantCode: 2, wantOut: "For another API, run 'moat grant http gitlab"},
		{args: []string{"grant", "openai", "--token", secret, "--token-stdin"}, wantCode: 2, wantOut: "cannot be used together"},
		{args: []string{"grant", "openai", "--token", secret, "--bogus"}, wantCode: 2, wantOut: "unknown flag: --bogus"},
		{args: []string{"grant", "http", "--token", secret}, wantCode: 2, wantOut: "'moat grant http' takes 1 argument, not 0"},
		{args: []string{"grant", "http", "x", "--header", "A", "--token", secret}, wantCode: 2, wantOut: "--host is required"},
		{args: []string{"grant", "list", secret}, wantCode: 2, wantOut: "Run 'moat grant list --help' for usage."},
		{args: []string{"grant", "http", "x", "--host", "https://api.example.com/v1", "--header", "A", "--token", secret},
			wantCode: 1, wantOut: `invalid host "https://api.example.com/v1"`},
		{args: []string{"grant", "http", "x", "--host", "api.example.com", "--header", "Host", "--token", secret},
			wantCode: 1, wantOut: `invalid header name "Host"`},
		{args: []string{"grant", "http", "Bad_Name", "--host", "api.example.com", "--header", "A", "--token", secret},
			wantCode: 1, wantOut: `invalid grant name "Bad_Name"`},
		{args: []string{"grant", "openai", "--token", secret + "\nX"}, wantCode: 1, wantOut: "invalid token: contains a line break"},
		{args: []string{"grant", "openai", "--token-stdin"}, stdin: strings.Repeat(secret, 3000), wantCode: 1, wantOut: "more than 64 KiB"},
		{args: []string{"grant", "openai"}, wantCode: 1, wantOut: "Pipe it in with 'moat grant openai --token-stdin', or set OPENAI_API_KEY."},
		{args: []string{"revoke", "github", "anthropic"}, wantOut: "Revoked grant github\nRevoked grant anthropic\n"},
		{args: []string{"revoke", "github"}, wantCode: 1, wantOut: "moat: no grant named \"github\"\n\nRun 'moat grant github' to store one.\n"},
		{args: []string{"revoke"}, wantCode: 2, wantOut: "'moat revoke' takes at least 1 argument, not 0"},
	}
	for _, s := range steps {
		name := strings.ReplaceAll(strings.Join(s.args, " "), secret, "SECRET")
		t.Run(name, func(t *testing.T) {
			t.Setenv("GITHUB_TOKEN", s.env)
			ios, in, out, errOut := iostreams.Test()
			in.WriteString(s.stdin)
			f := &cmdutil.Factory{IOStreams: ios, Version: "test", Grants: func() (*grant.Store, error) { return store, nil }}
			code := root.Main(f, s.args)
			all := out.String() + errOut.String()
			if code != s.wantCode || !strings.Contains(all, s.wantOut) {
				t.Fatalf("exit %d, output\n%s\nwant exit %d and %q", code, all, s.wantCode, s.wantOut)
			}
			if strings.Contains(all, secret) || strings.Contains(all, "MOATTESTSECRET") {
				t.Fatalf("the secret leaked:\n%s", all)
			}
		})
	}
	filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("MOATTESTSECRET")) {
				t.Errorf("%s holds the secret in plain text", path)
			}
		}
		return nil
	})
}
