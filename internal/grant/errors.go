package grant

import (
	"errors"
	"fmt"

	"github.com/moatsh/moat/internal/termtext"
)

// NotFoundError reports that no grant with Name is stored.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("no grant named %q", e.Name) }

// Hint says how to store the grant.
func (e *NotFoundError) Hint() string {
	if k, ok := LookupKind(Kind(e.Name)); ok && k.Fixed() {
		return fmt.Sprintf("Run 'moat grant %s' to store one.", e.Name)
	}
	// The name may come from agent.yaml, the agent's text: quoted, it is
	// one word in a shell whatever it holds.
	return fmt.Sprintf("Run 'moat grant list' to see your grants, or 'moat grant http %s --host HOST --header HEADER' to store one.",
		termtext.ShellQuote(e.Name))
}

// InvalidError reports a grant, name, host, header or token that cannot be
// stored. Value is empty when it would be secret (the token).
type InvalidError struct {
	What   string // "grant name", "host", "header name", "token"
	Value  string
	Why    string
	Remedy string
}

func (e *InvalidError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("invalid %s: %s", e.What, e.Why)
	}
	return fmt.Sprintf("invalid %s %q: %s", e.What, e.Value, e.Why)
}

// Hint says how to fix the input.
func (e *InvalidError) Hint() string { return e.Remedy }

// CorruptError reports a stored grant that cannot be read or does not
// authenticate: the file was edited, moved from another grant's name, or
// the key changed. It never holds any of the file's plaintext.
type CorruptError struct {
	Name string
	Path string
	Why  string
	Key  string // the key source's Describe, when decryption failed
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("reading grant %q from %s: %s", e.Name, e.Path, e.Why)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Hint says how to recover.
func (e *CorruptError) Hint() string {
	h := fmt.Sprintf("Run 'moat revoke %s', then store the grant again.", e.Name)
	if e.Key != "" {
		h += fmt.Sprintf(" If the key (%s) was replaced, restore the old one instead.", e.Key)
	}
	return h
}

// KeyError reports a key source that cannot provide a usable key.
type KeyError struct {
	Source string // Describe of the key source
	Why    string
	Remedy string
	Err    error
}

func (e *KeyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("using %s: %s: %v", e.Source, e.Why, e.Err)
	}
	return fmt.Sprintf("using %s: %s", e.Source, e.Why)
}

func (e *KeyError) Unwrap() error { return e.Err }

// Hint says how to fix the key.
func (e *KeyError) Hint() string { return e.Remedy }

// ErrNoKeyring is what a keyring KeySource returns from Key when the host
// has no OS keyring; WithFallback then uses the key file.
var ErrNoKeyring = errors.New("no OS keyring found")
