package sshagent

import "fmt"

// Verdict says whether the agent signed.
type Verdict string

const (
	Signed  Verdict = "signed"
	Refused Verdict = "refused"
)

// Reasons for a refusal. They are stable: the audit log and tests match on
// them, so change none; add new ones.
const (
	// ReasonKeyNotGranted: the key asked for is not one of the run's.
	ReasonKeyNotGranted = "key not granted"
	// ReasonNotBound: no session-bind@openssh.com before the request, as
	// from a client older than OpenSSH 8.9 or one that skips it.
	ReasonNotBound = "session not bound"
	// ReasonForwarded: the connection was bound for agent forwarding.
	ReasonForwarded = "forwarded agent connection"
	// ReasonMalformedBind: a session-bind whose fields do not parse.
	ReasonMalformedBind = "malformed session bind"
	// ReasonBadBindSignature: the host key did not sign the session
	// identifier the client reported.
	ReasonBadBindSignature = "bad session bind signature"
	// ReasonAlreadyBound: a second session-bind, for another session, on a
	// connection already bound for authentication.
	ReasonAlreadyBound = "connection bound to another session"
	// ReasonNotUserauth: the data to sign is not a publickey userauth
	// request for that key.
	ReasonNotUserauth = "not a publickey userauth request"
	// ReasonSessionMismatch: the userauth request is for another session
	// than the bound one.
	ReasonSessionMismatch = "session identifier differs from the bound session"
	// ReasonHostKeyMismatch: a publickey-hostbound request names another
	// host key than the bound one.
	ReasonHostKeyMismatch = "host key differs from the bound host key"
	// ReasonHostNotGranted: the bound host key is not a known key of any
	// host the key is granted for.
	ReasonHostNotGranted = "host not granted for this key"
	// ReasonNotConfirmed: Config.Confirm did not confirm the destination.
	ReasonNotConfirmed = "destination not confirmed by the proxy"
	// ReasonSignerFailed: the backend (key or upstream agent) failed to sign.
	ReasonSignerFailed = "signer failed"
)

// An Event is one signature or refusal, for the run's audit log.
type Event struct {
	// Grant names the grant of the key; "" when the key is not granted or
	// the event is about a session bind.
	Grant string
	// Host is the granted host the signature was for; "" when no granted
	// host matched.
	Host string
	// Key is the SHA256 fingerprint of the key asked for; "" for a session
	// bind.
	Key string
	// HostKey is the SHA256 fingerprint of the server's host key the
	// connection is bound to (or tried to bind to); "" when unknown.
	HostKey string
	Verdict Verdict
	// Reason is one of the Reason constants for a refusal, "" for a
	// signature.
	Reason string
	// Detail is free text that helps a reader (an error, the user name);
	// tests must not match on it.
	Detail string
}

// RefusedError is the error an agent returns for a refused request. Clients
// over the agent protocol see only a failure; callers of NewAgent's agent
// in-process can read the reason.
type RefusedError struct {
	Reason string
	Detail string
}

func (e *RefusedError) Error() string {
	if e.Detail == "" {
		return "ssh agent refused: " + e.Reason
	}
	return fmt.Sprintf("ssh agent refused: %s: %s", e.Reason, e.Detail)
}
