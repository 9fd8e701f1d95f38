package grant

import (
	"slices"
	"time"
)

// Kind says which injection rule a grant follows.
type Kind string

const (
	GitHub    Kind = "github"
	Anthropic Kind = "anthropic"
	OpenAI    Kind = "openai"
	HTTP      Kind = "http" // any API: one header on the hosts the user names
)

// Grant is a credential's metadata: everything but the secret.
//
// A built-in grant (github, anthropic, openai) is named after its kind and
// takes its Hosts and Header from Builtin. An http grant is named by the
// user and injects the stored secret, verbatim, as the value of Header on
// Hosts (store "Bearer <token>" to get a bearer header).
type Grant struct {
	Name      string    `json:"name"`
	Kind      Kind      `json:"kind"`
	Hosts     []string  `json:"hosts"`
	Header    string    `json:"header,omitempty"` // canonical form, e.g. "X-Api-Key"
	CreatedAt time.Time `json:"created_at"`
}

// builtins are the built-in grants' definitions. Header is informational
// (for 'moat grant list'); injection follows the kind's rule in inject.go.
var builtins = map[Kind]Grant{
	GitHub:    {Name: "github", Kind: GitHub, Hosts: []string{"api.github.com", "github.com"}, Header: "Authorization"},
	Anthropic: {Name: "anthropic", Kind: Anthropic, Hosts: []string{"api.anthropic.com"}, Header: "X-Api-Key"},
	OpenAI:    {Name: "openai", Kind: OpenAI, Hosts: []string{"api.openai.com"}, Header: "Authorization"},
}

// Builtin returns the definition of a built-in grant kind, and false for
// http and unknown kinds.
func Builtin(kind Kind) (Grant, bool) {
	g, ok := builtins[kind]
	if !ok {
		return Grant{}, false
	}
	g.Hosts = slices.Clone(g.Hosts)
	return g, true
}

// Kinds lists every kind, built-ins first, for help text and completion.
func Kinds() []Kind { return []Kind{GitHub, Anthropic, OpenAI, HTTP} }
