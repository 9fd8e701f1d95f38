package proxy

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/policy"
)

// gitRun runs git in dir and returns its combined output.
func gitRun(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestGitPushPolicy pushes with the real git client through the proxy to
// git http-backend: pushes to allowed branches get through, a push to
// another branch and a deletion are refused with moat's reason printed
// by git per ref, and the server's refs show only what was allowed.
// Cloning is unaffected.
func TestGitPushPolicy(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	t.Parallel()
	root := t.TempDir()
	bare := filepath.Join(root, "srv", "repo.git")
	work := filepath.Join(root, "seed")
	for _, args := range [][]string{{"init", "-q", "-b", "main", work}, {"-C", work, "commit", "-q", "--allow-empty", "-m", "init"},
		{"clone", "-q", "--bare", work, bare}, {"-C", bare, "config", "http.receivepack", "true"}} {
		if out, err := gitRun(t, root, nil, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitBin, _ := exec.LookPath("git")
	up := httptest.NewTLSServer(&cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Join(root, "srv"), "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(up.Close)
	e := newEnv(t, envOpts{policy: examplePolicy(t), upstream: up})
	e.srv.GitPush = &policy.RefRules{Patterns: []string{"refs/heads/agent/*"}}

	caFile := filepath.Join(root, "ca.pem")
	if err := os.WriteFile(caFile, caPEM(e), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HTTPS_PROXY=" + e.proxyURL(testToken).String(), "GIT_SSL_CAINFO=" + caFile}
	clone := filepath.Join(root, "clone")
	if out, err := gitRun(t, root, env, "clone", "-q", exampleURL(t, up, "/repo.git"), clone); err != nil {
		t.Fatalf("clone through the proxy: %v\n%s", err, out)
	}
	if out, err := gitRun(t, clone, env, "commit", "-q", "--allow-empty", "-m", "work"); err != nil {
		t.Fatal(out)
	}
	if out, err := gitRun(t, clone, env, "push", "-q", "origin", "HEAD:refs/heads/agent/one", "HEAD:refs/heads/agent/deep/two"); err != nil {
		t.Fatalf("push to allowed branches: %v\n%s", err, out)
	}
	for _, tt := range []struct{ name, refspec, want string }{
		{"another branch", "HEAD:main", "network.git-push allows pushes only to refs/heads/agent/*"},
		{"a deletion of an allowed branch", ":agent/one", "deleting a ref is refused"},
		{"a tag", "HEAD:refs/tags/v1", "network.git-push allows pushes only to"},
	} {
		out, err := gitRun(t, clone, env, "push", "origin", tt.refspec)
		if err == nil || !strings.Contains(out, "remote rejected") || !strings.Contains(out, tt.want) {
			t.Errorf("%s: err %v, git said:\n%s\nwant it rejected with %q", tt.name, err, out, tt.want)
		}
	}
	out, err := gitRun(t, bare, nil, "for-each-ref", "--format=%(refname)")
	if err != nil {
		t.Fatal(out)
	}
	if got := strings.Fields(out); strings.Join(got, " ") != "refs/heads/agent/deep/two refs/heads/agent/one refs/heads/main" {
		t.Errorf("the server's refs: %v", got)
	}
	main, _ := gitRun(t, bare, nil, "rev-parse", "main")
	seed, _ := gitRun(t, work, nil, "rev-parse", "main")
	if main != seed {
		t.Error("main moved on the server")
	}
}

// caPEM is the PEM of the CA e's proxy mints leaves from.
func caPEM(e *testEnv) []byte { return e.srv.Leaves.ca.CertPEM() }

func TestReadPushCommands(t *testing.T) {
	old, nw := strings.Repeat("a", 40), strings.Repeat("b", 40)
	line := func(s string) string { return pktLine(s) }
	for _, tt := range []struct {
		name, body, wantErr string
		refs                []string
	}{
		{"two updates", line(old+" "+nw+" refs/heads/a\x00report-status side-band-64k\n") + line(old+" "+nw+" refs/heads/b\n") + "0000PACK", "", []string{"refs/heads/a", "refs/heads/b"}},
		{"shallow first", line("shallow "+old+"\n") + line(old+" "+nw+" refs/heads/a\x00report-status\n") + "0000", "", []string{"refs/heads/a"}},
		{"sha256", line(strings.Repeat("c", 64)+" "+strings.Repeat("d", 64)+" refs/heads/a\x00\n") + "0000", "", []string{"refs/heads/a"}},
		{"no updates", "0000", "no ref updates", nil},
		{"cut short", line(old + " " + nw + " refs/heads/a\n")[:20], "ended inside", nil},
		{"no flush", line(old + " " + nw + " refs/heads/a\n"), "ended inside", nil},
		{"bad length", "zzzz", "pkt-line length", nil},
		{"short length", "0003", "pkt-line length", nil},
		{"not a ref", line(old+" "+nw+" HEAD\n") + "0000", "malformed", nil},
		{"bad oid", line("xyz "+nw+" refs/heads/a\n") + "0000", "malformed", nil},
		{"signed", line("push-cert\x00report-status\n") + "0000", "signed pushes", nil},
	} {
		cmds, _, err := readPushCommands(strings.NewReader(tt.body))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var refs []string
		for _, c := range cmds {
			refs = append(refs, c.ref)
		}
		if strings.Join(refs, " ") != strings.Join(tt.refs, " ") {
			t.Errorf("%s: refs %v, want %v", tt.name, refs, tt.refs)
		}
	}
}

func FuzzReadPushCommands(f *testing.F) {
	old, nw := strings.Repeat("a", 40), strings.Repeat("b", 40)
	f.Add([]byte(pktLine(old+" "+nw+" refs/heads/a\x00report-status\n") + "0000PACK"))
	f.Add([]byte("0000"))
	f.Add([]byte("ffff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, _, err := readPushCommands(strings.NewReader(string(b)))
		if err == nil && len(cmds) == 0 {
			t.Fatal("no error and no commands")
		}
		for _, c := range cmds {
			if !strings.HasPrefix(c.ref, "refs/") || !isOID(c.oldOID) || !isOID(c.newOID) {
				t.Fatalf("accepted %+v", c)
			}
		}
	})
}

func TestRefRules(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"agent/*", "refs/heads/agent/*", ""},
		{"refs/tags/v*", "refs/tags/v*", ""},
		{"main", "refs/heads/main", ""},
		{"refs/notes/x", "", "only branches"},
		{"a..b", "", "not a ref name"},
		{"a b", "", "no git ref name"},
		{"", "", "empty"},
		{"/x", "", "not a ref name"},
	} {
		got, err := policy.ParseRefPattern(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v", tt.in, got, err)
		}
	}
	r := &policy.RefRules{Patterns: []string{"refs/heads/agent/*", "refs/heads/exact"}}
	for ref, want := range map[string]bool{
		"refs/heads/agent/x": true, "refs/heads/agent/x/y": true, "refs/heads/agent": false,
		"refs/heads/exact": true, "refs/heads/exactly": false, "refs/heads/main": false, "refs/tags/agent/x": false,
	} {
		if r.Allows(ref) != want {
			t.Errorf("Allows(%s) = %v", ref, !want)
		}
	}
}
