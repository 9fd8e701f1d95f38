package config

import (
	"strings"
	"testing"
)

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
