// Package grant owns moat's credentials: the encrypted store of grants under
// the moat home (AES-256-GCM, one file per grant, key from a KeySource), the
// definitions of the built-in grants (github, anthropic, openai) and of
// user-defined http grants, and the rules that turn a grant into the headers
// the proxy injects and the placeholder environment the agent sees.
//
// Secrets never leave this package in printable form: Secret redacts itself
// in fmt, JSON and slog, and no error built here contains one. Only the proxy
// calls Secret.Reveal, when it writes a header on the wire.
//
// Key sources: the OS keyring is the intended default; until that backend
// exists (it needs a dependency), callers use FileKey, a 0600 file holding a
// random 32-byte key, and say so through Describe. WithFallback joins the
// two once the keyring backend is added: a keyring that returns ErrNoKeyring
// falls back to the key file, and Describe states the fallback.
package grant
