package grant

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	return NewStore(filepath.Join(dir, "grants"), FileKey(filepath.Join(dir, "keys", "grants.key")))
}

func testGrants() []Grant {
	return []Grant{
		{Name: "github", Kind: GitHub},
		{Name: "anthropic", Kind: Anthropic},
		{Name: "openai", Kind: OpenAI},
		{Name: "internal-api", Kind: HTTP, Hosts: []string{"api.example.com"}, Header: "x-api-key"},
	}
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	for _, g := range testGrants() {
		t.Run(g.Name, func(t *testing.T) {
			tok := testToken + "-" + g.Name
			if err := s.Put(g, NewSecret([]byte(tok))); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, secret, err := s.Get(g.Name)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want, _ := g.Normalize()
			if string(secret.Reveal()) != tok || got.Name != want.Name || got.Kind != want.Kind ||
				!slices.Equal(got.Hosts, want.Hosts) || got.Header != want.Header || got.CreatedAt.IsZero() {
				t.Fatalf("Get = %+v (secret matches: %v), want %+v", got, string(secret.Reveal()) == tok, want)
			}
			assertPrivateFile(t, s.path(g.Name))
		})
	}
}

func assertPrivateFile(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Fatalf("mode of %s = %04o, want 0600", path, info.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(testToken)) {
		t.Fatalf("%s holds the token in plain text", path)
	}
}

func TestStoreReplaceKeepsGivenCreatedAt(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	g := Grant{Name: "openai", Kind: OpenAI, CreatedAt: at}
	for _, tok := range []string{"fake-old", "fake-new"} {
		if err := s.Put(g, NewSecret([]byte(tok))); err != nil {
			t.Fatal(err)
		}
	}
	got, secret, err := s.Get("openai")
	if err != nil || string(secret.Reveal()) != "fake-new" || !got.CreatedAt.Equal(at) {
		t.Fatalf("Get = %v, %v; want the new token created at %v", got.CreatedAt, err, at)
	}
}

// failingKey is a key source that must not be used.
type failingKey struct{}

func (failingKey) Key() ([]byte, error) { return nil, errors.New("key must not be read") }
func (failingKey) Describe() string     { return "failing key" }

func TestStoreListReadsNoKey(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	for _, g := range testGrants() {
		if err := s.Put(g, NewSecret([]byte(testToken))); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(s.dir, ".openai.grant-123"), []byte("partial"), 0o600) // a leftover temp file
	list, err := NewStore(s.dir, failingKey{}).List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, g := range list {
		names = append(names, g.Name)
	}
	if want := []string{"anthropic", "github", "internal-api", "openai"}; !slices.Equal(names, want) {
		t.Fatalf("List names = %v, want %v", names, want)
	}
	if empty, err := NewStore(filepath.Join(t.TempDir(), "none"), failingKey{}).List(); err != nil || len(empty) != 0 {
		t.Fatalf("List of a missing dir = %v, %v; want none", empty, err)
	}
}

func TestStoreRejectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tamper  func(t *testing.T, s *Store)
		get     string
		wantErr string
	}{
		{"flipped ciphertext bit", func(t *testing.T, s *Store) {
			editFile(t, s, "openai", func(fd *fileData) { fd.Ciphertext[0] ^= 1 })
		}, "openai", "does not authenticate"},
		{"flipped nonce bit", func(t *testing.T, s *Store) {
			editFile(t, s, "openai", func(fd *fileData) { fd.Nonce[0] ^= 1 })
		}, "openai", "does not authenticate"},
		{"edited hosts", func(t *testing.T, s *Store) {
			editFile(t, s, "internal-api", func(fd *fileData) {
				fd.Grant = bytes.Replace(fd.Grant, []byte("api.example.com"), []byte("evil.example.com"), 1)
			})
		}, "internal-api", "does not authenticate"},
		{"renamed file", func(t *testing.T, s *Store) {
			rename(t, s, "openai", "anthropic")
		}, "anthropic", `it holds grant "openai"`},
		{"renamed file with its name edited", func(t *testing.T, s *Store) {
			rename(t, s, "openai", "anthropic")
			editFile(t, s, "anthropic", func(fd *fileData) {
				fd.Grant = bytes.Replace(fd.Grant, []byte(`"name":"openai","kind":"openai"`), []byte(`"name":"anthropic","kind":"anthropic"`), 1)
			})
		}, "anthropic", "does not authenticate"},
		{"other key, in a store from before the key was recorded", func(t *testing.T, s *Store) {
			os.WriteFile(filepath.Join(filepath.Dir(s.dir), "keys", "grants.key"), bytes.Repeat([]byte{1}, keySize), 0o600)
			os.Remove(filepath.Join(s.dir, sealFile))
		}, "openai", "does not authenticate"},
		{"not json", func(t *testing.T, s *Store) {
			os.WriteFile(s.path("openai"), []byte("garbage"), 0o600)
		}, "openai", "not a grant file"},
		{"future version", func(t *testing.T, s *Store) {
			editFile(t, s, "openai", func(fd *fileData) { fd.Version = 2 })
		}, "openai", "unknown format version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStore(t)
			for _, g := range testGrants() {
				if err := s.Put(g, NewSecret([]byte(testToken+"-"+g.Name))); err != nil {
					t.Fatal(err)
				}
			}
			tt.tamper(t, s)
			_, secret, err := s.Get(tt.get)
			var ce *CorruptError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Get(%q) error = %v, want a *CorruptError containing %q", tt.get, err, tt.wantErr)
			}
			if !secret.IsZero() || strings.Contains(err.Error(), testToken) || strings.Contains(ce.Hint(), testToken) {
				t.Fatal("a failed Get revealed the secret")
			}
			if !strings.Contains(ce.Hint(), "moat revoke "+tt.get) {
				t.Errorf("hint %q does not say how to recover", ce.Hint())
			}
			if err := s.Delete(tt.get); err != nil {
				t.Errorf("Delete of a corrupt grant: %v", err)
			}
		})
	}
}

func editFile(t *testing.T, s *Store, name string, edit func(*fileData)) {
	t.Helper()
	raw, err := os.ReadFile(s.path(name))
	if err != nil {
		t.Fatal(err)
	}
	var fd fileData
	if err := json.Unmarshal(raw, &fd); err != nil {
		t.Fatal(err)
	}
	edit(&fd)
	raw, _ = json.Marshal(fd)
	if err := os.WriteFile(s.path(name), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, s *Store, from, to string) {
	t.Helper()
	if err := os.Rename(s.path(from), s.path(to)); err != nil {
		t.Fatal(err)
	}
}

func TestStoreErrors(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	tests := []struct {
		name    string
		do      func() error
		target  any
		wantErr string
		hint    string
	}{
		{"get missing builtin", func() error { _, _, err := s.Get("github"); return err }, new(*NotFoundError),
			`no grant named "github"`, "Run 'moat grant github' to store one."},
		{"get missing http", func() error { _, _, err := s.Get("internal"); return err }, new(*NotFoundError),
			`no grant named "internal"`, "Run 'moat grant list' to see your grants, or 'moat grant http internal --host HOST --header HEADER' to store one."},
		{"delete missing", func() error { return s.Delete("openai") }, new(*NotFoundError),
			`no grant named "openai"`, "moat grant openai"},
		{"get traversal", func() error { _, _, err := s.Get("../keys/grants"); return err }, new(*InvalidError),
			`invalid grant name "../keys/grants"`, "Choose a name"},
		{"delete traversal", func() error { return s.Delete("../x") }, new(*InvalidError), "invalid grant name", ""},
		{"put newline token", func() error {
			return s.Put(Grant{Name: "openai", Kind: OpenAI}, NewSecret([]byte(testToken+"\n")))
		}, new(*InvalidError), "invalid token: contains a line break", "trailing newline"},
		{"put empty token", func() error { return s.Put(Grant{Name: "openai", Kind: OpenAI}, Secret{}) }, new(*InvalidError),
			"invalid token: is empty", "--token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.do()
			if err == nil || !errors.As(err, tt.target) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v (%T), want %T containing %q", err, err, tt.target, tt.wantErr)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatal("error repeats the token")
			}
			h, _ := err.(interface{ Hint() string })
			if tt.hint != "" && (h == nil || !strings.Contains(h.Hint(), tt.hint)) {
				t.Fatalf("hint of %v does not contain %q", err, tt.hint)
			}
		})
	}
}

func TestStoreKeyFailureNamesTheSource(t *testing.T) {
	t.Parallel()
	s := NewStore(t.TempDir(), failingKey{})
	err := s.Put(Grant{Name: "openai", Kind: OpenAI}, NewSecret([]byte(testToken)))
	if err == nil || !strings.Contains(err.Error(), `storing grant "openai"`) {
		t.Fatalf("Put error = %v, want one saying what failed", err)
	}
}
