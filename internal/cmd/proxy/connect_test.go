package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/policy"
)

// sshProxy is an HTTP proxy that answers a CONNECT to git-a.test:22
// with 200 and, in the same write, an SSH server's greeting; it then
// reads the client's bytes until their end and answers with them. Any
// other CONNECT it refuses with 403 and an X-Moat-Blocked rule.
func sshProxy(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != "git-a.test:22" {
			w.Header().Set(policy.HeaderName, r.Host+" is not an ssh grant's host")
			http.Error(w, "moat proxy: refused", http.StatusForbidden)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nSSH-2.0-fake\r\n")
		sent, _ := io.ReadAll(rw) // until the client's half-close
		io.WriteString(c, "got: "+string(sent))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// runConnect runs 'proxy connect' as ssh does, with stdin as its input
// and the given proxy variables in place of the test's. It returns its
// exit status, stdout and stderr.
func runConnect(t *testing.T, stdin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"proxy", "connect"}, args...)...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(proxyEnv, name)
	}), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestConnect: through the proxy, the server's first bytes reach stdout,
// and stdin's end reaches the server, whose answer still comes.
func TestConnect(t *testing.T) {
	proxyURL := strings.Replace(sshProxy(t), "http://", "http://moat:tok@", 1)
	code, stdout, stderr := runConnect(t, "hello", []string{"http_proxy=" + proxyURL}, "git-a.test", "22")
	if code != 0 || stdout != "SSH-2.0-fake\r\ngot: hello" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and the server's greeting and answer", code, stdout, stderr)
	}
}

// TestConnectFails: a refusal, or no proxy to ask, exits 1 saying why.
func TestConnectFails(t *testing.T) {
	proxyURL := sshProxy(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"refused", []string{"HTTPS_PROXY=" + proxyURL, "HTTP_PROXY=http://127.0.0.1:1"}, []string{"git-b.test", "2222"},
			"moat: the run's proxy refused SSH to git-b.test:2222: 403 Forbidden git-b.test:2222 is not an ssh grant's host\n"},
		{"no proxy", nil, []string{"git-a.test", "22"},
			"moat: none of HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy is set, so the run's proxy is unknown; 'moat proxy connect' only works inside a moat run\n"},
		{"bad port", []string{"HTTPS_PROXY=" + proxyURL}, []string{"git-a.test", "ssh"},
			"moat: port \"ssh\": not a port number (1 to 65535)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runConnect(t, "", tc.env, tc.args...)
			if code != 1 || stdout != "" || stderr != tc.want {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// TestProxyFromEnv: the variables are read in their order, and a value
// without a scheme is an http:// proxy.
func TestProxyFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HTTPS_PROXY": "http://moat:a@127.0.0.1:3128", "http_proxy": "http://moat:b@127.0.0.1:3129"}, "http://moat:a@127.0.0.1:3128"},
		{map[string]string{"https_proxy": "moat:a@127.0.0.1:3128", "HTTP_PROXY": "http://moat:b@127.0.0.1:3129"}, "http://moat:a@127.0.0.1:3128"},
		{map[string]string{"http_proxy": "http://moat:b@127.0.0.1:3129"}, "http://moat:b@127.0.0.1:3129"},
	} {
		u, err := proxyFromEnv(func(k string) string { return tc.env[k] })
		if err != nil || u.String() != tc.want {
			t.Errorf("%v: got %v (%v), want %s", tc.env, u, err, tc.want)
		}
	}
	if _, err := proxyFromEnv(func(k string) string { return map[string]string{"HTTPS_PROXY": "http://"}[k] }); err == nil {
		t.Error("HTTPS_PROXY=http:// was taken as a proxy")
	}
}
