package grant

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what a Secret prints as, in every format.
const redacted = "[redacted]"

// Secret holds a credential. It prints as "[redacted]" through fmt (every
// verb), JSON, text marshalling and slog. The bytes sit behind a pointer so
// that even reflection-based printing of a struct that holds a Secret in an
// unexported field shows an address, not the bytes.
type Secret struct{ p *secretBytes }

type secretBytes struct{ b []byte }

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret {
	return Secret{p: &secretBytes{b: append([]byte(nil), b...)}}
}

// Reveal returns a copy of the secret's bytes, to hand to the proxy
// sidecar or put on the wire; never log or wrap what it returns.
func (s Secret) Reveal() []byte {
	if s.p == nil {
		return nil
	}
	return append([]byte(nil), s.p.b...)
}

// bytes returns the secret's bytes, not a copy; nil for the zero Secret
// (an ssh grant whose key ssh-agent keeps has no secret).
func (s Secret) bytes() []byte {
	if s.p == nil {
		return nil
	}
	return s.p.b
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil || len(s.p.b) == 0 }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return "grant.Secret{" + redacted + "}" }

// Format prints the redaction for every verb, including %#v and %x.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, redacted)
}

// MarshalJSON writes the redaction as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText writes the redaction (used by encoding/xml, some loggers).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue keeps slog from reaching the bytes.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
