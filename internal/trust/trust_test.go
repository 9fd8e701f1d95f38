package trust

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWidening(t *testing.T) {
	t.Parallel()
	p := func(k Kind, v string) Permission { return Permission{Kind: k, Value: v} }
	approved := []Permission{p(Network, ""), p(Grant, "github"), p(Read, "/d:/d"), p(Write, "/d:/d"), p(Allow, "a.example")}
	tests := []struct {
		name string
		want []Permission
		wide []Permission
	}{
		{"same", approved, nil},
		{"narrower", []Permission{p(Read, "/d:/d"), p(Grant, "github")}, nil},
		{"default only", []Permission{p(Network, "")}, nil},
		{"nothing", nil, nil},
		{"new grant", []Permission{p(Grant, "github"), p(Grant, "openai")}, []Permission{p(Grant, "openai")}},
		{"permissive", []Permission{p(Network, ""), p(AnyHost, "")}, []Permission{p(AnyHost, "")}},
		{"other mount", []Permission{p(Read, "/e:/d")}, []Permission{p(Read, "/e:/d")}},
		{"sorted", []Permission{p(Env, "A=b"), p(Grant, "x")}, []Permission{p(Grant, "x"), p(Env, "A=b")}},
	}
	for _, tt := range tests {
		if got := Widening(approved, tt.want); !slices.Equal(got, tt.wide) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.wide)
		}
	}
}

func TestDescribeCallsOutGrantHosts(t *testing.T) {
	t.Parallel()
	sb := &Sandbox{GrantHosts: map[string][]string{"gh": {"*.github.com"}}}
	sb.Add(Grant, "gh")
	for value, want := range map[string]string{
		"api.github.com=198.51.100.1":  "the credentials of grant gh would go to 198.51.100.1",
		"API.GITHUB.COM.=198.51.100.1": "the credentials of grant gh would go to 198.51.100.1",
		"github.com=198.51.100.1":      "the credentials of grant gh would go to 198.51.100.1",
		"example.com=198.51.100.1":     "requests to example.com would go to 198.51.100.1",
		"x\x1b]0;t\a=1.2.3.4":          `requests to "x\x1b]0;t\a" would go to 1.2.3.4`,
	} {
		if got := sb.Describe(Permission{Kind: Host, Value: value}); !strings.HasPrefix(got, want) {
			t.Errorf("%q: got %q, want prefix %q", value, got, want)
		}
	}
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	s := &Store{Dir: t.TempDir()}
	if got, err := s.Approved("/w"); err != nil || got != nil {
		t.Fatalf("empty store: got %v, %v", got, err)
	}
	perms := []Permission{{Kind: Grant, Value: "b"}, {Kind: Grant, Value: "a"}}
	if err := s.Approve("/w", perms, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Approved("/w")
	if err != nil || !slices.Equal(got, Sorted(perms)) {
		t.Fatalf("got %v, %v; want %v", got, err, Sorted(perms))
	}
	if got, _ := s.Approved("/w2"); got != nil {
		t.Fatalf("another workspace got %v", got)
	}
}

func TestWideningOfRequests(t *testing.T) {
	t.Parallel()
	req := func(host, method, path string) Permission {
		return Permission{Kind: Request, Value: RequestValue(host, method, path)}
	}
	approved := []Permission{{Kind: Allow, Value: "open.test"}, req("api.test", "GET", "/a/**"),
		req("any.test", "", "/x"), req("all.test", "HEAD", "")}
	tests := []struct {
		want Permission
		held bool
	}{
		{req("open.test", "POST", "/anything"), true},
		{req("open.test", "", ""), true},
		{req("api.test", "GET", "/a/**"), true},
		{req("api.test", "GET", "/a/b"), false}, // only "/**" and the same path hold others
		{req("api.test", "POST", "/a/**"), false},
		{req("api.test", "", "/a/**"), false},
		{req("any.test", "DELETE", "/x"), true},
		{req("any.test", "DELETE", "/y"), false},
		{req("all.test", "HEAD", "/z"), true},
		{req("all.test", "GET", "/z"), false},
		{req("API.test", "GET", "/a/**"), false}, // hosts are compared as written
		{Permission{Kind: Allow, Value: "api.test"}, false},
	}
	for _, tt := range tests {
		if got := len(Widening(approved, []Permission{tt.want})) == 0; got != tt.held {
			t.Errorf("%v: held %v, want %v", tt.want, got, tt.held)
		}
	}
}

func TestDescribeAllGroupsPathsOfAMethod(t *testing.T) {
	t.Parallel()
	sb := &Sandbox{}
	for _, m := range []string{"GET", "HEAD"} {
		for _, p := range []string{"/b", "/a/**"} {
			sb.Add(Request, RequestValue("api.test", m, p))
		}
	}
	sb.Add(Request, RequestValue("x\x1b[2J.test", "", ""))
	got := sb.DescribeAll(sb.Permissions)
	want := []string{
		"the agent could send GET requests to api.test, paths /a/**, /b (network.allow)",
		"the agent could send HEAD requests to api.test, paths /a/**, /b (network.allow)",
		`the agent could send requests of any method to "x\x1b[2J.test" (network.allow)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestPushPatternsNarrow: network.git-push narrows what pushes may do, so
// adding it never asks for approval, while widening it, or dropping it
// from a config whose approval had it, does.
func TestPushPatternsNarrow(t *testing.T) {
	agent := Permission{Kind: Push, Value: "refs/heads/agent/*"}
	mainRef := Permission{Kind: Push, Value: "refs/heads/main"}
	net := Permission{Kind: Network}
	for _, tt := range []struct {
		name           string
		approved, want []Permission
		widens         []Permission
	}{
		{"added to an unrestricted approval", []Permission{net}, []Permission{net, agent}, nil},
		{"the same patterns", []Permission{net, agent}, []Permission{net, agent}, nil},
		{"fewer patterns", []Permission{net, agent, mainRef}, []Permission{net, agent}, nil},
		{"a new pattern", []Permission{net, agent}, []Permission{net, agent, mainRef}, []Permission{mainRef}},
		{"dropped", []Permission{net, agent}, []Permission{net}, []Permission{{Kind: Push, Value: AnyRef}}},
	} {
		got := Widening(tt.approved, tt.want)
		if fmt.Sprint(got) != fmt.Sprint(Sorted(tt.widens)) {
			t.Errorf("%s: widening %v, want %v", tt.name, got, tt.widens)
		}
	}
	s := &Sandbox{}
	if d := s.Describe(Permission{Kind: Push, Value: AnyRef}); !strings.Contains(d, "any branch or tag") {
		t.Errorf("describe: %q", d)
	}
}

// TestDescribeSSHGrant: an ssh grant is worded as the sessions it signs,
// not as a credential in requests.
func TestDescribeSSHGrant(t *testing.T) {
	sb := &Sandbox{GrantHosts: map[string][]string{"deploy": {"github.com"}}, SSHGrants: map[string]bool{"deploy": true}}
	got := sb.Describe(Permission{Kind: Grant, Value: "deploy"})
	if got != "SSH sessions to github.com could sign in with the key of grant deploy" {
		t.Errorf("got %q", got)
	}
}
