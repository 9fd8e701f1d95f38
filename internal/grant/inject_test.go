package grant

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// applyTo applies g to r as the proxy's adapter does (internal/egress):
// only on hosts g covers, with a secret. It returns the headers the
// applier set or changed, and whether it applied.
func applyTo(t *testing.T, g Grant, r *http.Request, secret Secret) (http.Header, bool) {
	t.Helper()
	a, ok := g.RequestApplier()
	if !ok || secret.IsZero() || !g.Covers(r.URL.Host) {
		return nil, false
	}
	before := r.Header.Clone()
	applied, err := a.ApplyRequest(r, g, secret)
	if err != nil {
		t.Fatalf("ApplyRequest: %v", err)
	}
	set := http.Header{}
	for k, v := range r.Header {
		if !slices.Equal(before[k], v) {
			set[k] = v
		}
	}
	if !applied && len(set) > 0 {
		t.Fatalf("ApplyRequest set %v but says it did not apply", names(set))
	}
	return set, applied
}

// newRequest is a request as the proxy hands it to an applier: host is
// the URL's authority, path the escaped path as sent.
func newRequest(method, host, path, query, contentType string) *http.Request {
	u := &url.URL{Scheme: "https", Host: host, Path: path, RawPath: path, RawQuery: query}
	if p, err := url.PathUnescape(path); err == nil {
		u.Path = p
	}
	r := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// names lists a header's keys, never its values (they hold secrets).
func names(h http.Header) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestInjectionFor(t *testing.T) {
	t.Parallel()
	const tok = testToken
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok))
	gh, _ := Builtin(GitHub)
	an, _ := Builtin(Anthropic)
	oa, _ := Builtin(OpenAI)
	gm, _ := Builtin(Gemini)
	custom := Grant{Name: "internal", Kind: HTTP, Hosts: []string{"api.example.com", "*.corp.example", "svc.example:8443"}, Header: "Private-Token"}
	tests := []struct {
		name         string
		g            Grant
		host, path   string
		header, want string // header "" means no injection
	}{
		{"github api", gh, "api.github.com", "/repos/o/r", "Authorization", "Bearer " + tok},
		{"github api port 443", gh, "api.github.com:443", "/user", "Authorization", "Bearer " + tok},
		{"github api upper case", gh, "API.GitHub.com.", "/user", "Authorization", "Bearer " + tok},
		{"github api other port", gh, "api.github.com:8080", "/user", "", ""},
		{"git info/refs", gh, "github.com", "/owner/repo.git/info/refs?service=git-upload-pack", "Authorization", basic},
		{"git without .git", gh, "github.com", "/owner/repo/info/refs?service=git-receive-pack", "Authorization", basic},
		{"git lfs", gh, "github.com", "/owner/repo.git/info/lfs/locks", "Authorization", basic},
		{"github web page", gh, "github.com", "/owner/repo", "", ""},
		{"github login", gh, "github.com", "/login", "", ""},
		{"github short path", gh, "github.com", "/info/refs", "", ""},
		{"github other host", gh, "gist.github.com", "/", "", ""},
		{"github lookalike", gh, "api.github.com.evil.example", "/", "", ""},
		{"anthropic", an, "api.anthropic.com", "/v1/messages", "X-Api-Key", tok},
		{"anthropic other host", an, "api.openai.com", "/v1/messages", "", ""},
		{"openai", oa, "api.openai.com", "/v1/responses", "Authorization", "Bearer " + tok},
		{"openai other host", oa, "openai.com", "/", "", ""},
		{"gemini", gm, "generativelanguage.googleapis.com", "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse", "X-Goog-Api-Key", tok},
		{"gemini other google host", gm, "play.googleapis.com", "/log", "", ""},
		{"http host", custom, "api.example.com", "/v4/projects", "Private-Token", tok},
		{"http wildcard", custom, "a.b.corp.example", "/", "Private-Token", tok},
		{"http wildcard apex", custom, "corp.example", "/", "", ""},
		{"http explicit port", custom, "svc.example:8443", "/", "Private-Token", tok},
		{"http explicit port missing", custom, "svc.example", "/", "", ""},
		{"http other host", custom, "example.com", "/", "", ""},
		{"http suffix lookalike", custom, "evilapi.example.com", "/", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, query, _ := strings.Cut(tt.path, "?")
			set, ok := applyTo(t, tt.g, newRequest("GET", tt.host, path, query, ""), NewSecret([]byte(tok)))
			if tt.header == "" {
				if ok {
					t.Fatalf("injected %v into %s%s, want nothing", names(set), tt.host, tt.path)
				}
				return
			}
			if !ok || len(set) != 1 {
				t.Fatalf("got %v, %v; want one header from grant %q", names(set), ok, tt.g.Name)
			}
			got, present := set[tt.header]
			if !present || len(got) != 1 || got[0] != tt.want {
				// Compare without printing the values.
				t.Fatalf("header %s missing or wrong (headers %v)", tt.header, names(set))
			}
		})
	}
}

func TestInjectionForUsesBuiltinHosts(t *testing.T) {
	t.Parallel()
	// A github grant whose file claims extra hosts still injects only on GitHub's.
	g := Grant{Name: "github", Kind: GitHub, Hosts: []string{"evil.example"}}
	if _, ok := applyTo(t, g, newRequest("GET", "evil.example", "/", "", ""), NewSecret([]byte(testToken))); ok {
		t.Fatal("github grant injected into evil.example")
	}
	if _, ok := applyTo(t, g, newRequest("GET", "api.github.com", "/", "", ""), Secret{}); ok {
		t.Fatal("injected an empty secret")
	}
}

// TestGitHTTPRequests checks github.com's "git requests only" rule on the
// smart-HTTP and LFS request shapes, and on paths built to look like a git
// path to the proxy and like something else to the server.
func TestGitHTTPRequests(t *testing.T) {
	t.Parallel()
	const (
		up   = "application/x-git-upload-pack-request"
		rp   = "application/x-git-receive-pack-request"
		lfs  = "application/vnd.git-lfs+json"
		form = "application/x-www-form-urlencoded"
	)
	tests := []struct {
		method, path, query, ct string
		want                    bool
	}{
		{"GET", "/o/r.git/info/refs", "service=git-upload-pack", "", true},
		{"GET", "/o/r.git/info/refs", "service=git-receive-pack", "", true},
		{"GET", "/o/r/info/refs", "service=git-upload-pack", "", true},
		{"POST", "/o/r.git/git-upload-pack", "", up, true},
		{"POST", "/o/r.git/git-upload-pack", "", "Application/X-Git-Upload-Pack-Request; charset=x", true},
		{"POST", "/o/r.git/git-receive-pack", "", rp, true},
		{"POST", "/my-org/my_repo.v2.git/git-upload-pack", "", up, true},
		{"POST", "/o/r.git/info/lfs/objects/batch", "", lfs + "; charset=utf-8", true},
		{"GET", "/o/r.git/info/lfs/locks", "", "", true},

		// The wrong shape for the path.
		{"GET", "/o/r.git/info/refs", "", "", false},
		{"GET", "/o/r.git/info/refs", "service=git-upload-pack&x=1", "", false},
		{"GET", "/o/r.git/info/refs", "service=other", "", false},
		{"POST", "/o/r.git/info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git/git-upload-pack", "", up, false},
		{"POST", "/o/r.git/git-upload-pack", "", "", false},
		{"POST", "/o/r.git/git-upload-pack", "", form, false},
		{"POST", "/o/r.git/git-upload-pack", "", rp, false},
		{"POST", "/o/r.git/git-receive-pack", "", up, false},
		{"PUT", "/o/r.git/git-receive-pack", "", rp, false},
		{"POST", "/o/r.git/info/lfs/objects/batch", "", "application/json", false},
		{"DELETE", "/o/r.git/info/lfs/locks/1", "", lfs, false},
		{"GET", "/o/r.git/info/lfs/", "", "", false},
		{"GET", "/o/r.git/info/refs/x", "service=git-upload-pack", "", false},

		// Paths that are not in normal form, or not a repository's.
		{"GET", "/o/r.git/info/refs/../../../api", "service=git-upload-pack", "", false},
		{"POST", "/o/r.git/info/lfs/../../../../settings/tokens", "", lfs, false},
		{"GET", "/o/r.git/info/lfs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/settings", "", "", false},
		{"GET", "/o/r.git/info/lfs/%2E%2E/x", "", "", false},
		{"GET", "/o/%72.git/info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o%2fr/x/info/refs", "service=git-upload-pack", "", false},
		{"GET", "//o/r.git/info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o//r.git/info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git//info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git/./info/refs", "service=git-upload-pack", "", false},
		{"GET", "/./r.git/info/refs", "service=git-upload-pack", "", false},
		{"GET", "/../r.git/info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o/../info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git;x=1/info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git/info/refs;x", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git\\..\\..\\info/refs", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git/info/lfs/a\\..\\b", "", "", false},
		{"GET", "o/r.git/info/refs", "service=git-upload-pack", "", false},
		{"GET", "", "service=git-upload-pack", "", false},
		{"GET", "/o/r.git/info/lfs/x\x00", "", "", false},
		{"GET", "/login", "", "", false},
		{"GET", "/settings/tokens", "", "", false},
		{"GET", "/o/r", "", "", false},
	}
	gh, _ := Builtin(GitHub)
	for _, tt := range tests {
		_, got := applyTo(t, gh, newRequest(tt.method, "GitHub.com.", tt.path, tt.query, tt.ct), NewSecret([]byte(testToken)))
		if got != tt.want {
			t.Errorf("%s %s?%s (%s): injected %v, want %v", tt.method, tt.path, tt.query, tt.ct, got, tt.want)
		}
	}
}

func TestOverlap(t *testing.T) {
	t.Parallel()
	anthropic, _ := Builtin(Anthropic)
	claude, _ := Builtin(Claude)
	github, _ := Builtin(GitHub)
	openai, _ := Builtin(OpenAI)
	http := func(hosts ...string) Grant { return Grant{Name: "api", Kind: HTTP, Hosts: hosts, Header: "X-Key"} }
	tests := []struct {
		name string
		a, b Grant
		want bool
	}{
		{"key and subscription on one API", anthropic, claude, true},
		{"different APIs", anthropic, openai, false},
		{"http on a fixed kind's host", github, http("github.com"), true},
		{"wildcard over a name", http("*.example.com"), http("api.example.com"), true},
		{"nested wildcards", http("*.example.com"), http("*.api.example.com"), true},
		{"wildcard does not cover its apex", http("*.example.com"), http("example.com"), false},
		{"same name, other port", http("api.example.com:8443"), http("api.example.com"), false},
		{"disjoint", http("a.example.com"), http("b.example.com"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, got := tt.a.Overlap(tt.b); got != tt.want {
				t.Errorf("a.Overlap(b) = %v, want %v", got, tt.want)
			}
			if _, got := tt.b.Overlap(tt.a); got != tt.want {
				t.Errorf("b.Overlap(a) = %v, want %v", got, tt.want)
			}
		})
	}
}
