package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMethod(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "QUERY"} {
		if err := ParseMethod(ok); err != nil {
			t.Errorf("ParseMethod(%q): %v", ok, err)
		}
	}
	tests := []struct{ in, want string }{
		{"", `invalid method "": the method is empty; write one such as GET`},
		{"get", `invalid method "get": methods are upper case, and a request's method is compared exactly; use "GET"`},
		{"Post", `invalid method "Post": methods are upper case, and a request's method is compared exactly; use "POST"`},
		{"CONNECT", `invalid method "CONNECT": CONNECT opens the proxy's own tunnels and cannot be allowed per host; remove it: the requests inside an HTTPS tunnel are checked by their own methods`},
		{"connect", `invalid method "connect": CONNECT opens the proxy's own tunnels and cannot be allowed per host; remove it: the requests inside an HTTPS tunnel are checked by their own methods`},
		{"TRACE", `invalid method "TRACE": it is always refused: the server echoes the request back, credentials included; remove it`},
		{"FETCH", `invalid method "FETCH": not an HTTP method moat knows; use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK, REPORT, SEARCH, QUERY`},
		{"GET ", `invalid method "GET ": not an HTTP method moat knows; use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK, REPORT, SEARCH, QUERY`},
	}
	for _, tt := range tests {
		err := ParseMethod(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseMethod(%q):\ngot  %v\nwant %s", tt.in, err, tt.want)
		}
		var re *RequestRuleError
		if !errors.As(err, &re) || re.What != "method" {
			t.Errorf("ParseMethod(%q): %T is not a method *RequestRuleError", tt.in, err)
		}
	}
}

func TestParsePathPatternErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, why string }{
		{"", "paths are absolute"},
		{"repos/org/**", "paths are absolute"},
		{"*/x", "paths are absolute"},
		{"/a//b", `contains "//"`},
		{"//", `contains "//"`},
		{"/a/../b", `contains a "." or ".." segment`},
		{"/a/.", `contains a "." or ".." segment`},
		{"/a**", `"**" must be a whole segment`},
		{"/**b/c", `"**" must be a whole segment`},
		{"/***", `"**" must be a whole segment`},
		{"/a?b=1", "paths match the path only, never the query or a fragment"},
		{"/a#top", "paths match the path only, never the query or a fragment"},
		{"/a%2fb", "paths match the decoded path, so a pattern holds no %-escapes"},
		{"/a b", "contains a space"},
		{"/a\\b", "contains a backslash, which requests to hosts with paths may not hold"},
		{"/a\x00", "contains a control character"},
		{"/a\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParsePathPattern(tt.in)
		var re *RequestRuleError
		if !errors.As(err, &re) || re.What != "path" || re.Why != tt.why {
			t.Errorf("ParsePathPattern(%q) = %v, want why %q", tt.in, err, tt.why)
		}
	}
}

func TestPathPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		yes, no []string
	}{
		{"/", []string{"/"}, []string{"/a", "//"}},
		{"/repos/org/repo/**",
			[]string{"/repos/org/repo", "/repos/org/repo/", "/repos/org/repo/issues", "/repos/org/repo/a/b/c", "/repos/org/repo/x?y=/etc"},
			[]string{"/repos/org/repository", "/repos/org", "/repos/org/other/x", "/REPOS/org/repo", "/repos/org/repo%2fx"}},
		{"/repos/*/repo", []string{"/repos/a/repo", "/repos/a.b/repo", "/repos/a%20b/repo"}, []string{"/repos/a/b/repo", "/repos/repo", "/repos/a/repo/x"}},
		{"/v1/*.json", []string{"/v1/a.json", "/v1/.json"}, []string{"/v1/a.jsonx", "/v1/a/b.json"}},
		{"/a/*", []string{"/a/x", "/a/"}, []string{"/a", "/a/x/y"}},
		{"/**/tarball", []string{"/tarball", "/a/b/tarball"}, []string{"/a/tarball/x"}},
		{"/a/**/b/**/c", []string{"/a/b/c", "/a/x/b/y/z/c"}, []string{"/a/c", "/a/b/b"}},
		{"/pkg/@scope%name", nil, nil}, // not a pattern: skipped below
		{"/café/*", []string{"/caf%C3%A9/x"}, []string{"/cafe/x"}},
	}
	for _, tt := range tests {
		p, err := ParsePathPattern(tt.pattern)
		if err != nil {
			if tt.yes != nil {
				t.Errorf("ParsePathPattern(%q): %v", tt.pattern, err)
			}
			continue
		}
		for _, target := range tt.yes {
			segs, why := splitTarget(target)
			if why != "" || !p.match(segs) {
				t.Errorf("%q does not match %q (%s)", tt.pattern, target, why)
			}
		}
		for _, target := range tt.no {
			if segs, why := splitTarget(target); why == "" && p.match(segs) {
				t.Errorf("%q matches %q", tt.pattern, target)
			}
		}
	}
}

func TestSplitTargetRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ target, why string }{
		{"*", "the target is not an absolute path"},
		{"", "the target is not an absolute path"},
		{"https://evil.example/x", "the target is not an absolute path"},
		{"a/b", "the target is not an absolute path"},
		{"/a/../b", `the path has a "." or ".." segment`},
		{"/a/..", `the path has a "." or ".." segment`},
		{"/a/./b", `the path has a "." or ".." segment`},
		{"/a/%2e%2e/b", `the path has a "." or ".." segment`},
		{"/a/%2E%2E/b", `the path has a "." or ".." segment`},
		{"/a/.%2e/b", `the path has a "." or ".." segment`},
		{"/a/%2e/b", `the path has a "." or ".." segment`},
		{"/a/..;/b", `the path has a "." or ".." segment`},
		{"/a/..;x=1/b", `the path has a "." or ".." segment`},
		{"/a%2f..%2fb", "the path has an encoded slash or backslash"},
		{"/a%2Fb", "the path has an encoded slash or backslash"},
		{"/a%5c..%5cb", "the path has an encoded slash or backslash"},
		{"/a\\..\\b", "the path has a backslash"},
		{"/a%252e%252e/b", "the path is encoded twice (it holds %25)"},
		{"/a%zz", "the path has an invalid %-escape"},
		{"/a%", "the path has an invalid %-escape"},
		{"/a%00b", "the path has a control character"},
		{"/a%0d%0aX: y", "the path has a control character"},
		{"/a%c0%ae%c0%ae/b", "the decoded path is not valid UTF-8"},
		{"//evil.example/x", `the path has an empty segment ("//")`},
		{"/a//b", `the path has an empty segment ("//")`},
	}
	for _, tt := range tests {
		if _, why := splitTarget(tt.target); why != tt.why {
			t.Errorf("splitTarget(%q) refuses with %q, want %q", tt.target, why, tt.why)
		}
	}
	for _, ok := range []string{"/", "/a/", "/a/b.c", "/a/...", "/a/.well-known/x", "/a/b?x=../..&y=%2f", "/a;v=1/b"} {
		if _, why := splitTarget(ok); why != "" {
			t.Errorf("splitTarget(%q) refuses: %s", ok, why)
		}
	}
}

func mustRequests(t testing.TB, methods, paths []string, line int) *Requests {
	t.Helper()
	r, err := ParseRequests(methods, paths, line)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// restricted builds a policy from rules, each a pattern with the methods
// and paths written after it: "api.test GET,HEAD /a/**,/b".
func restricted(t testing.TB, mode Mode, rules ...string) *Policy {
	t.Helper()
	var patterns []string
	for _, r := range rules {
		patterns = append(patterns, strings.Fields(r)[0])
	}
	p := mustNew(t, mode, patterns, nil)
	for i, r := range rules {
		f := strings.Fields(r)
		var methods, paths []string
		if len(f) > 1 && f[1] != "-" {
			methods = strings.Split(f[1], ",")
		}
		if len(f) > 2 {
			paths = strings.Split(f[2], ",")
		}
		p.Allow[i].Requests = mustRequests(t, methods, paths, 0)
		if methods == nil && paths == nil {
			p.Allow[i].Requests = nil
		}
	}
	return p
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	p := restricted(t, Strict,
		"api.github.com GET,HEAD /repos/org/repo/**,/user",
		"registry.npmjs.org GET,HEAD",
		"uploads.example - /upload/*",
		"open.example",
		"*.corp.example GET",
		"wiki.corp.example",
		"10.0.0.0/8 GET",
		"10.1.2.3 POST",
	)
	p.Allow[0].Requests.Line = 7
	if err := p.AddGrantHosts("github", []string{"api.github.com"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host           string
		port           int
		method, target string
		upgrade        string
		allowed        bool
		rule           string // the whole Rule, or a prefix ending in "..."
	}{
		{"api.github.com", 443, "GET", "/repos/org/repo/issues?state=open", "", true, `network.allow "api.github.com"`},
		{"API.GitHub.com.", 443, "HEAD", "/repos/org/repo", "", true, `network.allow "api.github.com"`},
		{"api.github.com", 443, "GET", "/user", "", true, `network.allow "api.github.com"`},
		{"api.github.com", 443, "POST", "/repos/org/repo/issues", "", false,
			`POST to api.github.com is not allowed: network.allow "api.github.com" (agent.yaml line 7) permits only GET, HEAD there`},
		{"api.github.com", 443, "get", "/user", "", false,
			`get to api.github.com is not allowed: network.allow "api.github.com" (agent.yaml line 7) permits only GET, HEAD there`},
		{"api.github.com", 443, "GET", "/repos/org/other?x=/repos/org/repo/", "", false,
			`GET "/repos/org/other" on api.github.com is not allowed: network.allow "api.github.com" (agent.yaml line 7) permits only the paths /repos/org/repo/**, /user there`},
		{"api.github.com", 443, "GET", "/repos/org/repo/../../other/x", "", false,
			`GET "/repos/org/repo/../../other/x" on api.github.com is refused: the path has a "." or ".." segment, which servers read differently, so the paths of network.allow "api.github.com" (agent.yaml line 7) cannot be checked on it`},
		{"api.github.com", 443, "GET", "/repos/org/repo/%2e%2e/%2e%2e/other", "", false, `GET "/repos/org/repo/%2e%2e/%2e%2e/other" on api.github.com is refused: the path has a "." or ".." segment...`},
		{"api.github.com", 443, "GET", "/repos/org/repo%2f..%2f..%2fother", "", false, `GET "/repos/org/repo%2f..%2f..%2fother" on api.github.com is refused: the path has an encoded slash or backslash...`},
		{"api.github.com", 443, "OPTIONS", "*", "", false, `OPTIONS to api.github.com is not allowed...`},
		{"api.github.com", 443, "GET", "*", "", false, `GET "*" on api.github.com is refused: the target is not an absolute path...`},
		{"api.github.com", 443, "GET", "/repos/org/repo/socket", "websocket", true, `network.allow "api.github.com"`},
		{"api.github.com", 443, "GET", "/repos/org/repo/x", "h2c", false, `GET "/repos/org/repo/x" on api.github.com asks to switch to "h2c": network.allow "api.github.com" (agent.yaml line 7) limits methods or paths there...`},
		{"api.github.com", 443, "GET", "/repos/org/repo/x", "websocket, h2c", false, `GET "/repos/org/repo/x" on api.github.com asks to switch to "websocket, h2c"...`},
		{"registry.npmjs.org", 443, "GET", "/any/thing/../x", "", true, `network.allow "registry.npmjs.org"`},
		{"registry.npmjs.org", 443, "PUT", "/pkg", "", false, `PUT to registry.npmjs.org is not allowed: network.allow "registry.npmjs.org" permits only GET, HEAD there`},
		{"uploads.example", 443, "DELETE", "/upload/a", "", true, `network.allow "uploads.example"`},
		{"uploads.example", 443, "PUT", "/upload/a/b", "", false, `PUT "/upload/a/b" on uploads.example is not allowed...`},
		{"open.example", 80, "DELETE", "//x/../%2f", "h2c", true, ""},
		{"unlisted.example", 443, "POST", "/", "", true, ""},
		{"a.corp.example", 443, "POST", "/", "", false, `POST to a.corp.example is not allowed: network.allow "*.corp.example" permits only GET there`},
		{"wiki.corp.example", 443, "POST", "/", "", true, ""}, // the more specific plain rule opens it
		{"10.9.9.9", 80, "POST", "/", "", false, `POST to 10.9.9.9 is not allowed: network.allow "10.0.0.0/8" permits only GET there`},
		{"10.1.2.3", 80, "POST", "/", "", true, `network.allow "10.1.2.3"`},
		{"10.1.2.3", 80, "GET", "/", "", false, `GET to 10.1.2.3 is not allowed: network.allow "10.1.2.3" permits only POST there`},
	}
	for _, tt := range tests {
		d := p.CheckRequest(tt.host, tt.port, tt.method, tt.target, tt.upgrade)
		match := d.Rule == tt.rule
		if prefix, ok := strings.CutSuffix(tt.rule, "..."); ok {
			match = strings.HasPrefix(d.Rule, prefix)
		}
		if d.Allowed != tt.allowed || !match {
			t.Errorf("CheckRequest(%s:%d, %s %s, upgrade %q):\ngot  %v %s\nwant %v %s", tt.host, tt.port, tt.method, tt.target, tt.upgrade, d.Allowed, d.Rule, tt.allowed, tt.rule)
		}
		if !d.Allowed && d.Hint == "" {
			t.Errorf("CheckRequest(%s, %s %s): a denial without a hint", tt.host, tt.method, tt.target)
		}
	}
}

func TestRequestRuleSpecificity(t *testing.T) {
	t.Parallel()
	p := restricted(t, Permissive,
		"*.example.com GET",
		"*.api.example.com HEAD",
		"x.api.example.com:8443 POST",
		"x.api.example.com PUT",
		"plain.example.com",
	)
	tests := []struct {
		host string
		port int
		want string // the deciding pattern, "" for none
	}{
		{"a.example.com", 443, "*.example.com"},
		{"a.api.example.com", 443, "*.api.example.com"},
		{"x.api.example.com", 443, "x.api.example.com"},
		{"x.api.example.com", 8443, "x.api.example.com:8443"},
		{"plain.example.com", 443, ""},
		{"example.com", 443, ""},
		{"other.org", 443, ""},
	}
	for _, tt := range tests {
		r := p.RequestRule(tt.host, tt.port)
		got := ""
		if r != nil {
			got = r.Pattern
		}
		if got != tt.want || p.HasRequestRules(tt.host, tt.port) != (tt.want != "") {
			t.Errorf("RequestRule(%s:%d) = %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

// A grant's host rule never lifts the methods and paths network.allow
// sets for the same host.
func TestGrantDoesNotLiftRequestRules(t *testing.T) {
	t.Parallel()
	p := restricted(t, Strict, "api.github.com GET")
	if err := p.AddGrantHosts("github", []string{"api.github.com", "github.com"}); err != nil {
		t.Fatal(err)
	}
	if d := p.CheckHost("api.github.com", 443); !d.Allowed {
		t.Fatalf("CheckHost: %+v", d)
	}
	if d := p.CheckRequest("api.github.com", 443, "POST", "/x", ""); d.Allowed {
		t.Errorf("POST allowed by %s despite GET only", d.Rule)
	}
	if d := p.CheckRequest("github.com", 443, "POST", "/x", ""); !d.Allowed {
		t.Errorf("a grant host without rules refused: %s", d.Rule)
	}
}

func TestParseRequests(t *testing.T) {
	t.Parallel()
	if r, err := ParseRequests(nil, nil, 3); r != nil || err != nil {
		t.Errorf("no methods or paths: got %+v, %v; want nil", r, err)
	}
	r, err := ParseRequests(ReadOnly, []string{"/a/**"}, 3)
	if err != nil || len(r.Methods) != 2 || r.PathStrings()[0] != "/a/**" || r.Line != 3 {
		t.Fatalf("got %+v, %v", r, err)
	}
	for _, tt := range []struct {
		methods, paths []string
		want           string
	}{
		{[]string{}, nil, "the list is empty"},
		{nil, []string{}, "the list is empty"},
		{[]string{"GET", "GET"}, nil, "listed twice"},
		{nil, []string{"/a", "/a"}, "listed twice"},
		{[]string{"GET"}, []string{"a"}, "paths are absolute"},
	} {
		_, err := ParseRequests(tt.methods, tt.paths, 0)
		var re *RequestRuleError
		if !errors.As(err, &re) || re.Why != tt.want {
			t.Errorf("ParseRequests(%q, %q) = %v, want %q", tt.methods, tt.paths, err, tt.want)
		}
	}
}

func TestRequestDenialQuotesPathOnly(t *testing.T) {
	t.Parallel()
	p := restricted(t, Strict, "api.test GET /a")
	long := "/" + strings.Repeat("b", 500)
	d := p.CheckRequest("api.test", 443, "GET", long+"?token=secret\r\n", "")
	if d.Allowed || strings.Contains(d.Rule, "secret") || len(d.Rule) > 400 {
		t.Errorf("denial quotes the query or the whole long path: %q", d.Rule)
	}
	if h := d.Header(); strings.ContainsAny(h, "\r\n") {
		t.Errorf("header %q holds a line break", h)
	}
}
