package grant

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
)

func TestNewCmdGrant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string // a *cmdutil.FlagError containing this
	}{
		{name: "github", args: []string{"github"}, want: Options{Grant: grant.Grant{Name: "github", Kind: grant.GitHub}}},
		{name: "token flag", args: []string{"github", "--token", "t0k"},
			want: Options{Grant: grant.Grant{Name: "github", Kind: grant.GitHub}, Token: "t0k", TokenSet: true}},
		{name: "empty token flag is given", args: []string{"openai", "--token="},
			want: Options{Grant: grant.Grant{Name: "openai", Kind: grant.OpenAI}, TokenSet: true}},
		{name: "token stdin", args: []string{"anthropic", "--token-stdin"},
			want: Options{Grant: grant.Grant{Name: "anthropic", Kind: grant.Anthropic}, TokenStdin: true}},
		{name: "http", args: []string{"http", "internal-api", "--host", "api.example.com", "--host", "a.example.com,b.example.com", "--header", "x-api-key"},
			want: Options{Grant: grant.Grant{Name: "internal-api", Kind: grant.HTTP,
				Hosts: []string{"api.example.com", "a.example.com", "b.example.com"}, Header: "x-api-key"}}},
		{name: "ssh", args: []string{"ssh", "deploy", "--host", "github.com", "--host", "git.example.com:2222", "--key", "id",
			"--known-hosts", "kh", "--host-key", "github.com ssh-ed25519 AAAA", "--host-key", "git.example.com:2222 ssh-ed25519 BBBB"},
			want: Options{Grant: grant.Grant{Name: "deploy", Kind: grant.SSH, Hosts: []string{"github.com", "git.example.com:2222"}},
				SSH: SSHFlags{KeyFile: "id", KnownHosts: "kh", HostKeys: []string{"github.com ssh-ed25519 AAAA", "git.example.com:2222 ssh-ed25519 BBBB"}}}},
		{name: "ssh agent key", args: []string{"ssh", "deploy", "--host", "github.com", "--agent-key", "SHA256:x"},
			want: Options{Grant: grant.Grant{Name: "deploy", Kind: grant.SSH, Hosts: []string{"github.com"}}, SSH: SSHFlags{AgentKey: "SHA256:x"}}},
		{name: "ssh with both keys", args: []string{"ssh", "deploy", "--host", "github.com", "--key", "id", "--agent-key", "SHA256:x"},
			wantErr: "--key and --agent-key cannot be used together"},
		{name: "ssh without host", args: []string{"ssh", "deploy", "--key", "id"}, wantErr: "--host is required: name the hosts the key may sign for (repeat --host for each)"},
		{name: "both token flags", args: []string{"openai", "--token", "t0k", "--token-stdin"},
			wantErr: "--token and --token-stdin cannot be used together"},
		{name: "token as an argument", args: []string{"github", "ghp_T0KEN"},
			wantErr: "grant github takes no arguments; pass the token with --token-stdin or --token"},
		{name: "http without host", args: []string{"http", "x", "--header", "A"}, wantErr: "--host is required"},
		{name: "http without header", args: []string{"http", "x", "--host", "a.example.com"}, wantErr: "--header is required"},
		{name: "unknown kind", args: []string{"gitlab"}, wantErr: `unknown grant kind "gitlab": must be github, anthropic, claude, codex, openai, gemini, http or ssh`},
		{name: "unknown kind not a name", args: []string{"ghp_T0KEN"}, wantErr: "unknown grant kind: must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := iostreams.Test()
			var got *Options
			cmd := NewCmdGrant(&cmdutil.Factory{IOStreams: ios}, func(_ context.Context, o *Options) error { got = o; return nil })
			err := execute(cmd, tt.args)
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want a FlagError containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "T0KEN") {
					t.Fatalf("the error %q repeats the token", err)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("got %v, runF called: %v", err, got != nil)
			}
			if g, w := got.Grant, tt.want.Grant; g.Name != w.Name || g.Kind != w.Kind || !slices.Equal(g.Hosts, w.Hosts) || g.Header != w.Header ||
				got.Token != tt.want.Token || got.TokenSet != tt.want.TokenSet || got.TokenStdin != tt.want.TokenStdin ||
				!reflect.DeepEqual(got.SSH, tt.want.SSH) {
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func execute(cmd *cobra.Command, args []string) error {
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	_, err := cmd.ExecuteC()
	return err
}

func TestKindArgHint(t *testing.T) {
	t.Parallel()
	err := kindArg(nil, []string{"gitlab"})
	if want := "For another API, run 'moat grant http gitlab --host HOST --header NAME'."; cmdutil.HintOf(err) != want {
		t.Fatalf("hint %q, want %q", cmdutil.HintOf(err), want)
	}
	for typo, want := range map[string]string{"githb": "github", "antrhopic": "anthropic", "opnai": "openai", "https": "http"} {
		err := kindArg(nil, []string{typo})
		if hint := cmdutil.HintOf(err); hint != "Did you mean 'moat grant "+want+"'?" {
			t.Errorf("%s: hint %q, want a suggestion of %s", typo, hint, want)
		}
	}
}

// TestEveryKindHasACommand checks that 'moat grant' has a subcommand for
// each entry of the kinds table, and that a fixed kind's help names its
// hosts and token sources.
func TestEveryKindHasACommand(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	cmd := NewCmdGrant(&cmdutil.Factory{IOStreams: ios}, nil)
	for _, k := range grant.Kinds() {
		sub, _, err := cmd.Find([]string{string(k.Kind)})
		if err != nil || sub == cmd {
			t.Fatalf("no command for kind %s: %v", k.Kind, err)
		}
		for _, want := range append(slices.Clone(k.Hosts), k.Token.Env...) {
			if !strings.Contains(sub.Long, want) {
				t.Errorf("moat grant %s: help does not name %s", k.Kind, want)
			}
		}
	}
}

type testEnv struct {
	store   *grant.Store
	keyFile string
	opts    *Options
	in      *bytes.Buffer
	out     *bytes.Buffer
	errOut  *bytes.Buffer
}

// newTestEnv returns options on a fresh store with a key file, an empty
// environment, no tool on PATH and stdin not a terminal. It sets PATH, so
// tests that use it do not run in parallel.
func newTestEnv(t *testing.T, env map[string]string) *testEnv {
	t.Helper()
	t.Setenv("PATH", t.TempDir())
	home := t.TempDir()
	keyFile := filepath.Join(home, "keys", "grants.key")
	store := grant.NewStore(filepath.Join(home, "grants"), grant.FileKey(keyFile))
	ios, in, out, errOut := iostreams.Test()
	opts := &Options{
		IO:     ios,
		Grants: func() (*grant.Store, error) { return store, nil },
		Getenv: func(k string) string { return env[k] },
		Prompt: func(context.Context, int) ([]byte, error) { t.Fatal("prompted"); return nil, nil },
	}
	return &testEnv{store: store, keyFile: keyFile, opts: opts, in: in, out: out, errOut: errOut}
}

func (e *testEnv) secret(t *testing.T, name string) string {
	t.Helper()
	_, s, err := e.store.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return string(s.Reveal())
}

const granted = "Granted github (api.github.com, github.com); runs use it with 'grants: [github]' in agent.yaml or 'moat run --grant github'\n"

func Test_grantRun(t *testing.T) {
	github := grant.Grant{Name: "github", Kind: grant.GitHub}
	httpGrant := grant.Grant{Name: "internal-api", Kind: grant.HTTP, Hosts: []string{"API.example.com"}, Header: "authorization"}
	tests := []struct {
		name       string
		grant      grant.Grant
		env        map[string]string
		stdin      string
		tty        string // typed at the prompt; "" means stdin is not a terminal
		set        func(o *Options)
		wantSecret string
		wantStderr string // before the key note
	}{
		{name: "token flag", grant: github, set: func(o *Options) { o.Token, o.TokenSet = " ghp_flag ", true },
			wantSecret: "ghp_flag",
			wantStderr: "warning: --token can leave the secret in your shell history and process list; prefer --token-stdin\n" + granted},
		{name: "token stdin wins over the environment", grant: github, env: map[string]string{"GITHUB_TOKEN": "ghp_env"},
			stdin: "ghp_stdin\n", set: func(o *Options) { o.TokenStdin = true }, wantSecret: "ghp_stdin", wantStderr: granted},
		{name: "GITHUB_TOKEN before GH_TOKEN", grant: github, env: map[string]string{"GITHUB_TOKEN": "ghp_one", "GH_TOKEN": "ghp_two"},
			wantSecret: "ghp_one", wantStderr: "Using the GitHub token in GITHUB_TOKEN\n" + granted},
		{name: "GH_TOKEN", grant: github, env: map[string]string{"GITHUB_TOKEN": " ", "GH_TOKEN": "ghp_two"},
			wantSecret: "ghp_two", wantStderr: "Using the GitHub token in GH_TOKEN\n" + granted},
		{name: "anthropic environment", grant: grant.Grant{Name: "anthropic", Kind: grant.Anthropic}, env: map[string]string{"ANTHROPIC_API_KEY": "sk-ant-x"},
			wantSecret: "sk-ant-x", wantStderr: "Using the Anthropic API key in ANTHROPIC_API_KEY\n" +
				"Granted anthropic (api.anthropic.com); runs use it with 'grants: [anthropic]' in agent.yaml or 'moat run --grant anthropic'\n"},
		{name: "prompt on a terminal", grant: grant.Grant{Name: "openai", Kind: grant.OpenAI}, tty: "sk-typed\n",
			wantSecret: "sk-typed", wantStderr: "Paste the OpenAI API key (it is not shown): \n" +
				"Granted openai (api.openai.com); runs use it with 'grants: [openai]' in agent.yaml or 'moat run --grant openai'\n"},
		{name: "http header value verbatim", grant: httpGrant, stdin: "Bearer abc def\r\n", set: func(o *Options) { o.TokenStdin = true },
			wantSecret: "Bearer abc def",
			wantStderr: "Granted internal-api (api.example.com); runs use it with 'grants: [internal-api]' in agent.yaml or 'moat run --grant internal-api'\n"},
		{name: "http ignores the environment", grant: httpGrant, env: map[string]string{"GITHUB_TOKEN": "x"}, tty: "Token t",
			wantSecret: "Token t", wantStderr: "Paste the value of the Authorization header (it is not shown): \n" +
				"Granted internal-api (api.example.com); runs use it with 'grants: [internal-api]' in agent.yaml or 'moat run --grant internal-api'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.env)
			e.opts.Grant = tt.grant
			e.in.WriteString(tt.stdin)
			if tt.tty != "" {
				e.opts.IO.SetTTY(true, false, false)
				e.opts.Prompt = func(context.Context, int) ([]byte, error) { return []byte(tt.tty), nil }
			}
			if tt.set != nil {
				tt.set(e.opts)
			}
			if err := grantRun(context.Background(), e.opts); err != nil {
				t.Fatal(err)
			}
			if got := e.secret(t, tt.grant.Name); got != tt.wantSecret {
				t.Fatalf("stored secret %q, want %q", got, tt.wantSecret)
			}
			want := tt.wantStderr + "note: no OS keyring here; the grant key is kept in " + e.keyFile + " (0600)\n"
			if e.errOut.String() != want || e.out.String() != "" {
				t.Fatalf("stdout %q, stderr\n%s\nwant nothing and\n%s", e.out, e.errOut, want)
			}
		})
	}
}

func Test_grantRunErrors(t *testing.T) {
	tests := []struct {
		name     string
		grant    grant.Grant
		stdin    string
		set      func(o *Options)
		wantErr  string
		wantHint string
	}{
		{name: "nothing anywhere", grant: grant.Grant{Name: "anthropic", Kind: grant.Anthropic},
			wantErr:  "no Anthropic API key to store: no --token or --token-stdin, ANTHROPIC_API_KEY is empty, and stdin is not a terminal to prompt on",
			wantHint: "Pipe it in with 'moat grant anthropic --token-stdin', or set ANTHROPIC_API_KEY."},
		{name: "github without gh", grant: grant.Grant{Name: "github", Kind: grant.GitHub},
			wantErr:  "no GitHub token to store: no --token or --token-stdin, GITHUB_TOKEN and GH_TOKEN are empty, gh is not installed, and stdin is not a terminal to prompt on",
			wantHint: "Pipe it in with 'moat grant github --token-stdin', set GITHUB_TOKEN, or run 'gh auth login' first."},
		{name: "http", grant: grant.Grant{Name: "x", Kind: grant.HTTP, Hosts: []string{"a.example.com"}, Header: "A"},
			wantErr:  "no value of the A header to store: no --token or --token-stdin, and stdin is not a terminal to prompt on",
			wantHint: "Pipe the header's value in with --token-stdin (for a bearer token, the value is 'Bearer <token>')."},
		{name: "empty stdin", grant: grant.Grant{Name: "openai", Kind: grant.OpenAI}, stdin: "\n", set: func(o *Options) { o.TokenStdin = true },
			wantErr: "invalid token: is empty"},
		{name: "a file on stdin", grant: grant.Grant{Name: "openai", Kind: grant.OpenAI}, stdin: strings.Repeat("x", maxToken+1),
			set: func(o *Options) { o.TokenStdin = true }, wantErr: "reading the token from stdin: more than 64 KiB"},
		{name: "bad host before the token is read", grant: grant.Grant{Name: "x", Kind: grant.HTTP, Hosts: []string{"https://a.example.com"}, Header: "A"},
			stdin: "tok", set: func(o *Options) { o.TokenStdin = true }, wantErr: `invalid host "https://a.example.com"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			e.opts.Grant = tt.grant
			e.in.WriteString(tt.stdin)
			if tt.set != nil {
				tt.set(e.opts)
			}
			err := grantRun(context.Background(), e.opts)
			if err == nil || err.Error() != tt.wantErr && !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			if tt.wantHint != "" && cmdutil.HintOf(err) != tt.wantHint {
				t.Fatalf("hint %q, want %q", cmdutil.HintOf(err), tt.wantHint)
			}
			if list, _ := e.store.List(); len(list) != 0 {
				t.Fatalf("stored %v after an error", list)
			}
			if tt.name == "bad host before the token is read" && e.in.Len() == 0 {
				t.Fatal("stdin was read before the grant was checked")
			}
		})
	}
}

func TestGrantReplaces(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, tok := range []string{"ghp_old", "ghp_new"} {
		e.errOut.Reset()
		e.opts.Grant, e.opts.Token, e.opts.TokenSet = grant.Grant{Name: "github", Kind: grant.GitHub}, tok, true
		if err := grantRun(context.Background(), e.opts); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(e.errOut.String(), "\nReplaced grant github\n"+granted) {
		t.Fatalf("stderr %q does not say the grant was replaced", e.errOut)
	}
	if got := e.secret(t, "github"); got != "ghp_new" {
		t.Fatalf("stored %q, want the new token", got)
	}
}

// fixedKey stands in for an OS keyring.
type fixedKey struct{}

func (fixedKey) Key() ([]byte, error) { return bytes.Repeat([]byte{3}, 32), nil }
func (fixedKey) Describe() string     { return "OS keyring" }

func TestGrantKeyNote(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "grants.key")
	os.WriteFile(existing, bytes.Repeat([]byte{5}, 32), 0o600)
	tests := []struct {
		name string
		key  grant.KeySource
		want string
	}{
		{"keyring: no note", fixedKey{}, ""},
		// An existing key file wins without the keyring being asked.
		{"existing key file", grant.KeyringOrFile(existing), "note: the grant key is kept in " + existing + " (0600), not in an OS keyring\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, map[string]string{"OPENAI_API_KEY": "sk-x"})
			store := grant.NewStore(filepath.Join(t.TempDir(), "grants"), tt.key)
			e.opts.Grants = func() (*grant.Store, error) { return store, nil }
			e.opts.Grant = grant.Grant{Name: "openai", Kind: grant.OpenAI}
			if err := grantRun(context.Background(), e.opts); err != nil {
				t.Fatal(err)
			}
			if _, after, _ := strings.Cut(e.errOut.String(), "'moat run --grant openai'\n"); after != tt.want {
				t.Fatalf("after the success line %q, want %q", after, tt.want)
			}
		})
	}
}

// TestGrantFromGh puts a fake gh first on PATH.
func TestGrantFromGh(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake gh is a shell script")
	}
	tests := []struct {
		name, script, wantSecret, wantErr string
	}{
		{name: "logged in", script: `[ "$*" = "auth token --hostname github.com" ] && echo gho_fromgh && exit 0; exit 9`,
			wantSecret: "gho_fromgh"},
		{name: "not logged in", script: `echo "no oauth token found for github.com" >&2; exit 1`,
			wantErr: "no GitHub token to store: no --token or --token-stdin, GITHUB_TOKEN and GH_TOKEN are empty, 'gh auth token' printed none, and stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			bin := t.TempDir()
			os.WriteFile(filepath.Join(bin, "gh"), []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755)
			t.Setenv("PATH", bin+string(os.PathListSeparator)+"/bin:/usr/bin")
			e.opts.Grant = grant.Grant{Name: "github", Kind: grant.GitHub}
			err := grantRun(context.Background(), e.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.secret(t, "github"); got != tt.wantSecret {
				t.Fatalf("stored %q, want %q", got, tt.wantSecret)
			}
			if !strings.HasPrefix(e.errOut.String(), "Using the GitHub token from 'gh auth token'\n"+granted) {
				t.Fatalf("stderr %q does not say the token came from gh", e.errOut)
			}
		})
	}
}

// chatgptAuthJSON is a Codex auth.json of a ChatGPT login.
const chatgptAuthJSON = `{"auth_mode":"chatgpt","OPENAI_API_KEY":null,"tokens":{"id_token":"h.e30.s","access_token":"h.eyJleHAiOjF9.s","refresh_token":"rt-test","account_id":"acct-1"},"last_refresh":"2026-12-01T00:00:00Z"}`

// TestGrantCodexReadsCodexLogin checks that 'moat grant codex' takes
// Codex's ChatGPT login from $CODEX_HOME/auth.json (or stdin), stores its
// tokens, says that moat now renews the login, and refuses an API-key
// login, pointing at 'moat grant openai'.
func TestGrantCodexReadsCodexLogin(t *testing.T) {
	codexHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(codexHome, "auth.json"), []byte(chatgptAuthJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, map[string]string{"CODEX_HOME": codexHome})
	e.opts.Grant = grant.Grant{Name: "codex", Kind: grant.Codex}
	if err := grantRun(context.Background(), e.opts); err != nil {
		t.Fatal(err)
	}
	l, err := grant.ParseChatGPTLogin([]byte(e.secret(t, "codex")))
	if err != nil || l.AccessToken != "h.eyJleHAiOjF9.s" || l.RefreshToken != "rt-test" || l.AccountID != "acct-1" {
		t.Fatalf("stored login %+v, %v", l, err)
	}
	stderr := e.errOut.String()
	for _, want := range []string{"Using the ChatGPT login for Codex in " + filepath.Join(codexHome, "auth.json"), "note: moat renews this login itself"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	e = newTestEnv(t, nil)
	e.opts.Grant = grant.Grant{Name: "codex", Kind: grant.Codex}
	e.opts.TokenStdin = true
	e.in.WriteString(`{"auth_mode":"apikey","OPENAI_API_KEY":"sk-x"}`)
	err = grantRun(context.Background(), e.opts)
	if err == nil || !strings.Contains(err.Error(), "store the key with 'moat grant openai'") || strings.Contains(err.Error(), "sk-x") {
		t.Fatalf("an API-key login: %v", err)
	}
	if _, _, err := e.store.Get("codex"); err == nil {
		t.Error("a refused login was stored")
	}
}
