package grant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// testToken is plainly fake; tests check it never appears in output.
const testToken = "moat-test-token-not-a-secret"

func TestSecretRedacts(t *testing.T) {
	t.Parallel()
	s := NewSecret([]byte(testToken))
	type holder struct {
		Public Secret
		hidden Secret
	}
	h := holder{Public: s, hidden: s}
	// Secrets also sit in maps inside structs, as headers to set.
	type injection struct {
		Grant   string
		Headers map[string]Secret
	}
	inj := injection{Grant: "github", Headers: map[string]Secret{"Authorization": s}}
	tests := []struct {
		name   string
		render func() string
		want   string // must appear; "" to check absence only
	}{
		{"%v", func() string { return fmt.Sprintf("%v", s) }, "[redacted]"},
		{"%+v", func() string { return fmt.Sprintf("%+v", s) }, "[redacted]"},
		{"%#v", func() string { return fmt.Sprintf("%#v", s) }, "grant.Secret{[redacted]}"},
		{"%s", func() string { return fmt.Sprintf("%s", s) }, "[redacted]"},
		{"%q", func() string { return fmt.Sprintf("%q", s) }, "[redacted]"},
		{"%x", func() string { return fmt.Sprintf("%x", s) }, "[redacted]"},
		{"%d", func() string { return fmt.Sprintf("%d", s) }, "[redacted]"},
		{"Sprint", func() string { return fmt.Sprint(s) }, "[redacted]"},
		{"pointer %v", func() string { return fmt.Sprintf("%v", &s) }, "[redacted]"},
		{"struct %+v", func() string { return fmt.Sprintf("%+v", h) }, "Public:[redacted]"},
		{"struct %#v", func() string { return fmt.Sprintf("%#v", h) }, "grant.Secret{[redacted]}"},
		{"injection %v", func() string { return fmt.Sprintf("%v", inj) }, "[redacted]"},
		{"injection %#v", func() string { return fmt.Sprintf("%#v", inj) }, "[redacted]"},
		{"json", func() string { return mustJSON(t, s) }, `"[redacted]"`},
		{"json struct", func() string { return mustJSON(t, h) }, `{"Public":"[redacted]"}`},
		{"json injection", func() string { return mustJSON(t, inj) }, `"Authorization":"[redacted]"`},
		{"slog", func() string { return slogText(s) }, "secret=[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.render()
			if leaks(got) {
				t.Fatalf("output holds the token or its bytes (len %d)", len(got))
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// leaks reports whether out holds the test token as text, hex or the
// decimal byte list fmt prints for a []byte.
func leaks(out string) bool {
	return strings.Contains(out, testToken) ||
		strings.Contains(out, fmt.Sprintf("%x", testToken)) ||
		strings.Contains(out, strings.Trim(fmt.Sprint([]byte(testToken)), "[]"))
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

func slogText(s Secret) string {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "secret", s)
	return buf.String()
}

func TestSecretReveal(t *testing.T) {
	t.Parallel()
	src := []byte(testToken)
	s := NewSecret(src)
	src[0] = 'X' // NewSecret copied
	got := s.Reveal()
	if string(got) != testToken {
		t.Fatalf("Reveal did not round-trip (len %d, want %d)", len(got), len(testToken))
	}
	got[0] = 'X' // Reveal copied
	if string(s.Reveal()) != testToken {
		t.Fatal("mutating Reveal's result changed the secret")
	}
	if !(Secret{}).IsZero() || (Secret{}).Reveal() != nil || s.IsZero() {
		t.Fatal("IsZero/Reveal wrong for the zero Secret")
	}
}
