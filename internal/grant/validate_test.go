package grant

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"github", true}, {"internal-api", true}, {"a", true}, {"0x", true},
		{strings.Repeat("a", 41), true}, {strings.Repeat("a", 42), false},
		{"", false}, {"-api", false}, {"Api", false}, {"a_b", false}, {"a.b", false},
		{"../etc", false}, {"a/b", false}, {"a b", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" means invalid
	}{
		{"api.example.com", "api.example.com"},
		{"API.Example.COM.", "api.example.com"},
		{"api.example.com:8443", "api.example.com:8443"},
		{"*.example.com", "*.example.com"},
		{"10.0.0.1", "10.0.0.1"},
		{"localhost", "localhost"},
		{"https://api.example.com", ""},
		{"api.example.com/v1", ""},
		{"user@api.example.com", ""},
		{"*.com", ""},
		{"*", ""},
		{"a.*.example.com", ""},
		{"*.*.example.com", ""},
		{"api.example.com:0", ""},
		{"api.example.com:65536", ""},
		{"api.example.com:08", ""},
		{"api.example.com:", ""},
		{"-api.example.com", ""},
		{"api..example.com", ""},
		{"[::1]:443", ""},
		{"api_x.example.com", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeHost(tt.in)
		if tt.want == "" {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Hint() == "" {
				t.Errorf("NormalizeHost(%q) = %q, %v; want an *InvalidError with a hint", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" means invalid
	}{
		{"x-api-key", "X-Api-Key"},
		{"Authorization", "Authorization"},
		{"PRIVATE-TOKEN", "Private-Token"},
		{"x_custom!", "X_custom!"},
		{"", ""},
		{"X Api", ""},
		{"X-Api:", ""},
		{"X-Äpi", ""},
		{"X-Api\r\nEvil", ""},
		{"host", ""},
		{"Content-Length", ""},
		{"transfer-encoding", ""},
		{"Proxy-Authorization", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeHeader(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeHeader(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHeader(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestGrantNormalize(t *testing.T) {
	t.Parallel()
	gh, _ := Builtin(GitHub)
	tests := []struct {
		name    string
		in      Grant
		want    Grant
		wantErr string
	}{
		{"builtin filled in", Grant{Name: "github", Kind: GitHub}, gh, ""},
		{"builtin as given", gh, gh, ""},
		{"builtin misnamed", Grant{Name: "gh", Kind: GitHub}, Grant{}, `invalid grant name "gh": a github grant is always named "github"`},
		{"builtin other hosts", Grant{Name: "github", Kind: GitHub, Hosts: []string{"evil.example"}}, Grant{}, "are fixed"},
		{"http", Grant{Name: "internal", Kind: HTTP, Hosts: []string{"API.Example.com"}, Header: "private-token"},
			Grant{Name: "internal", Kind: HTTP, Hosts: []string{"api.example.com"}, Header: "Private-Token"}, ""},
		{"http reserved name", Grant{Name: "openai", Kind: HTTP, Hosts: []string{"a.example"}, Header: "X"}, Grant{}, "reserved"},
		{"http named http", Grant{Name: "http", Kind: HTTP, Hosts: []string{"a.example"}, Header: "X"}, Grant{}, "reserved"},
		{"http no hosts", Grant{Name: "x", Kind: HTTP, Header: "X"}, Grant{}, "at least one host"},
		{"http bad host", Grant{Name: "x", Kind: HTTP, Hosts: []string{"http://a.example"}, Header: "X"}, Grant{}, `invalid host "http://a.example"`},
		{"http no header", Grant{Name: "x", Kind: HTTP, Hosts: []string{"a.example"}}, Grant{}, "invalid header name"},
		{"unknown kind", Grant{Name: "x", Kind: "gitlab"}, Grant{}, `invalid grant kind "gitlab"`},
		{"bad name", Grant{Name: "X", Kind: HTTP}, Grant{}, `invalid grant name "X"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.in.Normalize()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want.Name || got.Kind != tt.want.Kind ||
				!slices.Equal(got.Hosts, tt.want.Hosts) || got.Header != tt.want.Header {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestBuiltinReturnsACopy(t *testing.T) {
	t.Parallel()
	g, _ := Builtin(GitHub)
	g.Hosts[0] = "evil.example"
	if again, _ := Builtin(GitHub); again.Hosts[0] != "api.github.com" {
		t.Fatalf("Builtin shares its hosts slice: got %q", again.Hosts[0])
	}
	if _, ok := Builtin(HTTP); ok {
		t.Fatal("Builtin(http) = ok, want false")
	}
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"fake-token", true}, {"with space\tand tab", true},
		{"", false}, {"fake-token\n", false}, {"fake\r\nX-Evil: 1", false}, {"a\x00b", false}, {"a\x7fb", false},
	}
	for _, tt := range tests {
		err := validateSecret(Grant{Kind: OpenAI}, NewSecret([]byte(tt.in)))
		if (err == nil) != tt.ok {
			t.Errorf("validateSecret(len %d) = %v, want ok=%v", len(tt.in), err, tt.ok)
		}
		if err != nil && tt.in != "" && strings.Contains(err.Error(), tt.in) {
			t.Errorf("error %q repeats the token", err)
		}
	}
}
