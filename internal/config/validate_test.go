package config

import (
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/deps"
)

// depsError is deps' own message for spec; its wording belongs to deps.
func depsError(spec string) string {
	_, err := deps.Parse(spec)
	return err.Error()
}

func TestCheckEnvName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"FOO", true},
		{"foo", true},
		{"_", true},
		{"_A1", true},
		{"A_B_C_9", true},
		{"", false},
		{"1A", false},
		{"A-B", false},
		{"A.B", false},
		{"A B", false},
		{"É", false},
		{"A=B", false},
	}
	for _, tt := range tests {
		if got := checkEnvName(tt.name) == nil; got != tt.ok {
			t.Errorf("checkEnvName(%q) ok = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"My Agent", "my-agent"},
		{"-x", "x"},
		{"__init__", "init"},
		{"a  b!!c", "a-b-c"},
		{"!!!", ""},
		{"日本", ""},
		{strings.Repeat("\x00", 100), ""},
		{"A" + strings.Repeat("0123456789", 7), "a" + strings.Repeat("0123456789", 6) + "01"},
	}
	for _, tt := range tests {
		if got := sanitizeName(tt.in); got != tt.want {
			t.Errorf("sanitizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Config
		want string // "" for valid
	}{
		{"zero", Config{}, ""},
		{"full", Config{
			Name: "a", Dependencies: []string{"git"}, Env: map[string]string{"A": ""},
			Mounts: []Mount{{Source: ".", Target: "/src", ReadOnly: true}}, Command: []string{"true"},
		}, ""},
		{"name", Config{Path: "/w/agent.yaml", Name: "A"},
			`/w/agent.yaml: invalid name "A": it must start with a lowercase letter or digit, contain only a-z, 0-9, ".", "_" and "-", and be at most 63 characters long`},
		{"env sorted", Config{Env: map[string]string{"b-": "", "a-": ""}},
			`invalid env name "a-": it must start with a letter or "_" and contain only letters, digits and "_"`},
		{"mount", Config{Mounts: []Mount{{Source: "a", Target: "b"}}},
			`invalid mount "a:b": target "b" must be an absolute path`},
		{"mount targets", Config{Mounts: []Mount{{Source: "a", Target: "/b"}, {Source: "c", Target: "/b/", ReadOnly: true}}},
			`invalid mount "c:/b/:ro": target /b is already used`},
		{"empty command", Config{Command: []string{}}, `invalid command: the list is empty`},
		{"dependency", Config{Dependencies: []string{"git", "nodejs"}}, depsError("nodejs")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
