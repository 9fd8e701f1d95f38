package grant

import (
	"encoding/base64"
	"testing"
)

func TestInjectionFor(t *testing.T) {
	t.Parallel()
	const tok = testToken
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok))
	gh, _ := Builtin(GitHub)
	an, _ := Builtin(Anthropic)
	oa, _ := Builtin(OpenAI)
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
		{"git info/refs", gh, "github.com", "/owner/repo.git/info/refs", "Authorization", basic},
		{"git upload-pack", gh, "github.com", "/owner/repo.git/git-upload-pack", "Authorization", basic},
		{"git receive-pack", gh, "github.com", "/owner/repo.git/git-receive-pack", "Authorization", basic},
		{"git without .git", gh, "github.com", "/owner/repo/info/refs", "Authorization", basic},
		{"git lfs", gh, "github.com", "/owner/repo.git/info/lfs/objects/batch", "Authorization", basic},
		{"github web page", gh, "github.com", "/owner/repo", "", ""},
		{"github login", gh, "github.com", "/login", "", ""},
		{"github short path", gh, "github.com", "/info/refs", "", ""},
		{"github other host", gh, "gist.github.com", "/", "", ""},
		{"github lookalike", gh, "api.github.com.evil.example", "/", "", ""},
		{"anthropic", an, "api.anthropic.com", "/v1/messages", "X-Api-Key", tok},
		{"anthropic other host", an, "api.openai.com", "/v1/messages", "", ""},
		{"openai", oa, "api.openai.com", "/v1/responses", "Authorization", "Bearer " + tok},
		{"openai other host", oa, "openai.com", "/", "", ""},
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
			inj, ok := tt.g.InjectionFor(tt.host, tt.path, NewSecret([]byte(tok)))
			if tt.header == "" {
				if ok {
					t.Fatalf("injected %v into %s%s, want nothing", inj, tt.host, tt.path)
				}
				return
			}
			if !ok || len(inj.Headers) != 1 || inj.Grant != tt.g.Name {
				t.Fatalf("got %v, %v; want one header from grant %q", inj, ok, tt.g.Name)
			}
			got, present := inj.Headers[tt.header]
			if !present || string(got.Reveal()) != tt.want {
				// Compare without printing the values.
				t.Fatalf("header %s missing or wrong (headers %v)", tt.header, inj.Headers)
			}
		})
	}
}

func TestInjectionForUsesBuiltinHosts(t *testing.T) {
	t.Parallel()
	// A github grant whose file claims extra hosts still injects only on GitHub's.
	g := Grant{Name: "github", Kind: GitHub, Hosts: []string{"evil.example"}}
	if _, ok := g.InjectionFor("evil.example", "/", NewSecret([]byte(testToken))); ok {
		t.Fatal("github grant injected into evil.example")
	}
	if _, ok := g.InjectionFor("api.github.com", "/", Secret{}); ok {
		t.Fatal("injected an empty secret")
	}
}
