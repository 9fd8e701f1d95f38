package grant

import (
	"slices"
	"time"
)

// Kind names a grant kind: an entry of the kinds table (kinds.go).
type Kind string

// The kinds in the table. Their entries say everything else about them.
const (
	GitHub    Kind = "github"
	Anthropic Kind = "anthropic"
	OpenAI    Kind = "openai"
	Claude    Kind = "claude" // a Claude Pro or Max subscription's OAuth token
	Codex     Kind = "codex"  // Codex's ChatGPT login (OAuth tokens)
	Gemini    Kind = "gemini" // a Gemini API key (Google AI Studio)
	HTTP      Kind = "http"   // any API: one header on the hosts the user names
	SSH       Kind = "ssh"    // an SSH key that signs only for the hosts the user names (ssh.go)
)

// Grant is a credential's metadata: everything but the secret.
//
// A grant of a kind with fixed hosts (every kind but http) is named
// after its kind and takes its Hosts and Header from Builtin. An http grant
// is named by the user and injects the stored secret, verbatim, as the
// value of Header on Hosts (store "Bearer <token>" to get a bearer header).
// An ssh grant is named by the user too; its Hosts are the names of its
// SSH hosts (see SSHKey).
type Grant struct {
	Name      string    `json:"name"`
	Kind      Kind      `json:"kind"`
	Hosts     []string  `json:"hosts"`
	Header    string    `json:"header,omitempty"` // canonical form, e.g. "X-Api-Key"
	SSH       *SSHKey   `json:"ssh,omitempty"`    // an ssh grant's key and host keys
	CreatedAt time.Time `json:"created_at"`
}

// Builtin returns the grant of a kind with fixed hosts, as stored: named
// after the kind, with its hosts and header (informational, for 'moat grant
// list'). It returns false for http and unknown kinds.
func Builtin(kind Kind) (Grant, bool) {
	k, ok := LookupKind(kind)
	if !ok || !k.Fixed() {
		return Grant{}, false
	}
	return Grant{Name: string(kind), Kind: kind, Hosts: slices.Clone(k.Hosts), Header: k.header()}, true
}
