// Package grant owns moat's credentials: the encrypted store of grants under
// the moat home (AES-256-GCM, one file per grant, key from a KeySource), and
// the table of grant kinds (kinds.go). Each entry declares a kind's hosts,
// how its credential is applied (an Applier: a header today, room for a
// request signer or a credential bound to a destination outside HTTPS), the
// placeholder environment the agent sees, where 'moat grant' finds its
// token, and its rows in docs/grants.md. A new kind is one entry.
//
// Secrets never leave this package in printable form: Secret redacts itself
// in fmt, JSON and slog, and no error built here contains one. Secret.Reveal
// hands the secret to the proxy sidecar, and to what puts it on the wire.
//
// Key sources: the OS keyring is the intended default; until that backend
// exists (it needs a dependency), callers use FileKey, a 0600 file holding a
// random 32-byte key, and say so through Describe. WithFallback joins the
// two once the keyring backend is added: a keyring that returns ErrNoKeyring
// falls back to the key file, and Describe states the fallback.
package grant
