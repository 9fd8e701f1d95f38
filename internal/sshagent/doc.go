// Package sshagent owns the SSH agent a run's SSH_AUTH_SOCK points at: an
// agent that lists only the run's granted keys and signs with one only for
// an SSH session bound to a host the key was granted for.
//
// A Server holds the granted Keys; NewAgent makes the agent for one client
// connection (agent.ServeAgent serves it) and Serve does so for every
// connection a listener accepts. The private key never reaches the agent's
// client: a Key signs through its Backend, either a signer loaded from a
// key file (LoadKeyFile) or the user's own ssh-agent, which keeps the key
// (FindAgentKey). Its hosts' keys come from known_hosts (KnownHostKeys) or
// are pinned (ParseHostKey).
//
// Destination binding. OpenSSH's client (8.9 and later; the machines moat
// is tested on have 9.2) tells the agent, before it asks for a
// signature, which server it is talking to: the session-bind@openssh.com
// extension carries the server's host key, the session identifier (the
// exchange hash of the key exchange) and the server's signature over it
// (OpenSSH's PROTOCOL.agent). The agent checks that signature, so the client
// cannot claim a host key it does not hold a session with, and records the
// binding on the connection. A signature request is then granted only when
//   - the connection is bound, and was never bound for forwarding;
//   - the data to sign is a publickey userauth request for the same key
//     whose session identifier is the bound one (a request for another
//     session could be replayed against another server);
//   - the bound host key is one of the keys known for a host the key is
//     granted for; and
//   - Config.Confirm agrees: the run's proxy saw a tunnel of this run to
//     that host present that host key.
//
// A client older than 8.9 never binds and so never gets a signature. Every
// signature and every refusal is reported to Config.Audit.
package sshagent
