// Package sshgrant joins ssh grants (internal/grant's metadata and sealed
// secrets, read with the standard library only) to SSH: it builds a
// grant's key and pinned host keys from a key file, the user's ssh-agent
// and known_hosts for 'moat grant ssh', and turns a stored ssh grant into
// the sshagent.Key a run's SSH agent serves (Key, Load).
//
// It is apart from internal/grant so that the packages every moat process
// links (the grant store, agent.yaml's schema, the proxy sidecar) do not
// link golang.org/x/crypto/ssh.
package sshgrant
