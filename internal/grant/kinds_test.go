package grant

import (
	"slices"
	"strings"
	"testing"
)

// withKind adds k to the kinds table until the test ends. A test that
// calls it must not be parallel: parallel tests read the table, and they
// run only once the sequential tests have returned.
func withKind(t *testing.T, k KindSpec) {
	t.Helper()
	saved := kinds
	kinds = append(slices.Clone(kinds), k)
	t.Cleanup(func() { kinds = saved })
}

// TestKindsTable checks what every entry must declare, and that the docs
// rows name every fixed host.
func TestKindsTable(t *testing.T) {
	t.Parallel()
	seen := map[Kind]bool{}
	for _, k := range Kinds() {
		if err := ValidateName(string(k.Kind)); err != nil || seen[k.Kind] {
			t.Errorf("kind %q: a duplicate or not a valid grant name (%v)", k.Kind, err)
		}
		seen[k.Kind] = true
		if k.Credential == "" || k.Apply == nil || len(k.Docs) == 0 {
			t.Errorf("kind %q: needs a Credential, an Applier and docs rows", k.Kind)
		}
		for _, h := range k.Hosts {
			if n, err := NormalizeHost(h); err != nil || n != h {
				t.Errorf("kind %q: host %q is not in normal form (%v)", k.Kind, h, err)
			}
			if !slices.ContainsFunc(k.Docs, func(d DocRow) bool { return strings.Contains(d.Into, "`"+h+"`") }) {
				t.Errorf("kind %q: no docs row says it goes to `%s`", k.Kind, h)
			}
		}
		for name, v := range k.Placeholders {
			if !IsPlaceholder(v) || !strings.Contains(strings.ReplaceAll(v, "-", ""), "moatplaceholder") {
				t.Errorf("kind %q: placeholder %s = %q does not say moat-placeholder", k.Kind, name, v)
			}
		}
	}
	if got, want := KindChoices(), "github, anthropic, claude, codex, openai, gemini, http or ssh"; got != want {
		t.Errorf("KindChoices() = %q, want %q", got, want)
	}
}

// TestOneEntryMakesAStaticHeaderKind adds a kind whose credential is one
// header, as one entry, and follows it through validation, the store,
// errors, placeholders and injection. Not parallel: see withKind.
func TestOneEntryMakesAStaticHeaderKind(t *testing.T) {
	withKind(t, KindSpec{
		Kind:         "example",
		Credential:   "Example API key",
		Hosts:        []string{"api.example.test"},
		Apply:        HeaderApplier{Header: "X-Example-Key", Prefix: "Key "},
		Placeholders: map[string]string{"EXAMPLE_API_KEY": fake("ex-moat-placeholder-", 48, "")},
		Token:        TokenSource{Env: []string{"EXAMPLE_API_KEY"}},
		Docs:         []DocRow{{"`X-Example-Key: Key <key>`", "`api.example.test`"}},
	})

	g, err := Grant{Name: "example", Kind: "example"}.Normalize()
	if err != nil || !slices.Equal(g.Hosts, []string{"api.example.test"}) || g.Header != "X-Example-Key" {
		t.Fatalf("Normalize = %+v, %v; want the kind's hosts and header", g, err)
	}
	if _, err := (Grant{Name: "example", Kind: HTTP, Hosts: []string{"a.example"}, Header: "X"}).Normalize(); err == nil ||
		!strings.Contains(err.Error(), "reserved") {
		t.Fatalf("an http grant named after the kind: %v, want it reserved", err)
	}
	if !strings.Contains(KindChoices(), "example") {
		t.Fatalf("KindChoices() = %q, want it to list the kind", KindChoices())
	}
	if h := (&NotFoundError{Name: "example"}).Hint(); h != "Run 'moat grant example' to store one." {
		t.Fatalf("NotFoundError hint %q", h)
	}

	s := newTestStore(t)
	if err := s.Put(Grant{Name: "example", Kind: "example"}, NewSecret([]byte(testToken))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	stored, secret, err := s.Get("example")
	if err != nil || stored.Kind != "example" || string(secret.Reveal()) != testToken {
		t.Fatalf("Get = %+v, %v; want the grant and its secret", stored, err)
	}

	env := stored.Placeholder()
	if len(env) != 1 || !IsPlaceholder(env["EXAMPLE_API_KEY"]) {
		t.Fatalf("Placeholder() = %v, want EXAMPLE_API_KEY", env)
	}

	if !stored.Covers("api.example.test") || stored.Covers("example.test") {
		t.Fatal("Covers does not follow the kind's hosts")
	}
	set, ok := applyTo(t, stored, newRequest("POST", "api.example.test", "/v1/things", "", "application/json"), secret)
	if !ok || len(set) != 1 || set.Get("X-Example-Key") != "Key "+testToken {
		t.Fatalf("applied %v, %v; want X-Example-Key", names(set), ok)
	}
	if _, ok := applyTo(t, stored, newRequest("GET", "other.example.test", "/", "", ""), secret); ok {
		t.Fatal("applied to a host the kind does not name")
	}
}

// otherChannelApplier is a test-only kind bound to a destination outside
// HTTPS, with fixed hosts.
type otherChannelApplier struct{}

func (otherChannelApplier) Channel() string { return "test-ssh" }

// TestDestinationBoundKindIsNotTheProxys checks that a kind of another
// channel validates and keeps its host, but is never intercepted or
// applied to HTTPS requests. Not parallel: see withKind.
func TestDestinationBoundKindIsNotTheProxys(t *testing.T) {
	withKind(t, KindSpec{Kind: "test-ssh", Credential: "SSH key", Hosts: []string{"git.example.test:22"},
		Apply: otherChannelApplier{}, Docs: []DocRow{{"an SSH signature", "`git.example.test:22`"}}})
	g, err := Grant{Name: "test-ssh", Kind: "test-ssh"}.Normalize()
	if err != nil || !slices.Equal(g.EffectiveHosts(), []string{"git.example.test:22"}) {
		t.Fatalf("Normalize = %+v, %v; want the kind's host", g, err)
	}
	if _, ok := g.RequestApplier(); ok {
		t.Fatal("a kind of another channel has a RequestApplier")
	}
	if g.Covers("git.example.test:22") {
		t.Fatal("the proxy would intercept a kind of another channel")
	}
	if k, _ := LookupKind(g.Kind); k.Apply.Channel() != "test-ssh" {
		t.Fatalf("channel %q, want test-ssh", k.Apply.Channel())
	}
}
