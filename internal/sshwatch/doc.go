// Package sshwatch owns the run proxy's own view of its SSH tunnels: which
// host key the server at the other end of each tunnel presented, read
// passively from the server's side of the stream, and the per-run Registry
// the run's SSH agent asks (Confirm) before it signs.
//
// An SSH connection is in clear text until both sides send NEWKEYS: the
// server's identification line, its KEXINIT, and its key exchange reply,
// whose first field is the server's host key K_S (RFC 4253 8, RFC 4419 3,
// RFC 5656 4, RFC 8731 3, and OpenSSH's hybrid post-quantum methods). A
// Watcher parses those bytes as the proxy copies them, without ever
// holding them back, and reports once: the host key, or why it saw none.
// Registry.Watch wraps the proxy's connection to the server with one and
// records the key for as long as the tunnel is open. Only the first key
// exchange is in clear text, and it is the one that counts: OpenSSH's
// client binds its agent sessions to that exchange's host key
// (initial_hostkey in its kex code), whatever a re-exchange brings.
//
// Only the server's direction is read, so which method the two sides chose
// is not known: a reply is taken for what it is only if it has the exact
// shape of a reply of a method the server offered (see kex.go), and
// anything else is reported as an unrecognised key exchange.
package sshwatch
