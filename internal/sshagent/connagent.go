package sshagent

import (
	"bytes"
	"errors"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// errReadOnly answers every request that would change the agent: the run
// gets the keys it was granted, and cannot add, remove or lock any.
var errReadOnly = errors.New("ssh agent: the run's granted keys cannot be changed")

// connAgent is the agent of one client connection.
type connAgent struct {
	srv *Server

	mu sync.Mutex
	// bound is the session this connection is bound to for
	// authentication; nil before a session bind.
	bound *sessionBind
	// forwarded is set once the connection was bound for forwarding; it
	// then never gets a signature (see bind).
	forwarded bool
}

// List returns the granted keys only.
func (a *connAgent) List() ([]*agent.Key, error) {
	var out []*agent.Key
	for _, k := range a.srv.cfg.Keys {
		pub := k.Backend.PublicKey()
		out = append(out, &agent.Key{Format: pub.Type(), Blob: pub.Marshal(), Comment: k.Grant})
	}
	return out, nil
}

func (a *connAgent) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	return a.SignWithFlags(key, data, 0)
}

// SignWithFlags signs only a userauth request for the session this
// connection is bound to, with a key granted for the host the session is
// with, and only if Config.Confirm agrees; see the package documentation.
func (a *connAgent) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	ev := Event{Key: ssh.FingerprintSHA256(key)}
	k := a.srv.keys[string(key.Marshal())]
	if k == nil {
		return nil, a.refuse(ev, ReasonKeyNotGranted, "")
	}
	ev.Grant = k.Grant
	a.mu.Lock()
	bound, forwarded := a.bound, a.forwarded
	a.mu.Unlock()
	if forwarded {
		return nil, a.refuse(ev, ReasonForwarded, "")
	}
	if bound == nil {
		return nil, a.refuse(ev, ReasonNotBound, "")
	}
	ev.HostKey = ssh.FingerprintSHA256(bound.hostKey)
	req, err := parseUserauthRequest(data, key)
	if err != nil {
		return nil, a.refuse(ev, ReasonNotUserauth, err.Error())
	}
	ev.Detail = "user " + req.user
	if !bytes.Equal(req.sessionID, bound.sessionID) {
		return nil, a.refuse(ev, ReasonSessionMismatch, ev.Detail)
	}
	if req.hostKey != nil && !bytes.Equal(req.hostKey.Marshal(), bound.hostKey.Marshal()) {
		return nil, a.refuse(ev, ReasonHostKeyMismatch, ev.Detail)
	}
	if reason, detail := a.destination(k, bound.hostKey, &ev); reason != "" {
		return nil, a.refuse(ev, reason, detail)
	}
	sig, err := k.Backend.Sign(data, flags)
	if err != nil {
		return nil, a.refuse(ev, ReasonSignerFailed, err.Error())
	}
	ev.Verdict = Signed
	a.srv.cfg.Audit(ev)
	return sig, nil
}

// destination finds the host the bound host key belongs to among the key's
// granted hosts and asks Confirm about it; it sets ev.Host and returns a
// refusal reason, "" when the destination is granted and confirmed.
func (a *connAgent) destination(k *Key, hostKey ssh.PublicKey, ev *Event) (reason, detail string) {
	hosts := k.hostsPresenting(hostKey)
	if len(hosts) == 0 {
		return ReasonHostNotGranted, ev.Detail
	}
	var firstErr error
	for _, h := range hosts {
		err := a.srv.cfg.Confirm(h, hostKey)
		if err == nil {
			ev.Host = h
			return "", ""
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	ev.Host = hosts[0]
	return ReasonNotConfirmed, firstErr.Error()
}

// Extension handles session-bind@openssh.com; other extensions are
// unsupported.
func (a *connAgent) Extension(name string, contents []byte) ([]byte, error) {
	if name != sessionBindExtension {
		return nil, agent.ErrExtensionUnsupported
	}
	return nil, a.bind(contents)
}

// bind records the session the client is about to authenticate in.
//
// A bind for forwarding refuses the bind and every later signature on
// the connection: its requests come from the remote host ssh forwarded the
// agent to, not from the run. A signature there would let that host (and
// whoever is on it) use the key for connections the run's proxy never
// carried, so no Confirm could vouch for their destination.
func (a *connAgent) bind(contents []byte) error {
	var ev Event
	b, err := parseSessionBind(contents)
	if err != nil {
		return a.refuse(ev, ReasonMalformedBind, err.Error())
	}
	ev.HostKey = ssh.FingerprintSHA256(b.hostKey)
	a.mu.Lock()
	defer a.mu.Unlock()
	if b.forwarding {
		a.forwarded = true
	}
	if a.forwarded {
		return a.refuse(ev, ReasonForwarded, "")
	}
	if err := b.verify(); err != nil {
		return a.refuse(ev, ReasonBadBindSignature, err.Error())
	}
	if a.bound != nil {
		if bytes.Equal(a.bound.sessionID, b.sessionID) && bytes.Equal(a.bound.hostKey.Marshal(), b.hostKey.Marshal()) {
			return nil // the same bind again
		}
		return a.refuse(ev, ReasonAlreadyBound, "")
	}
	a.bound = b
	return nil
}

func (a *connAgent) refuse(ev Event, reason, detail string) error {
	ev.Verdict, ev.Reason, ev.Detail = Refused, reason, detail
	a.srv.cfg.Audit(ev)
	return &RefusedError{Reason: reason, Detail: detail}
}

func (a *connAgent) Add(agent.AddedKey) error       { return errReadOnly }
func (a *connAgent) Remove(ssh.PublicKey) error     { return errReadOnly }
func (a *connAgent) RemoveAll() error               { return errReadOnly }
func (a *connAgent) Lock([]byte) error              { return errReadOnly }
func (a *connAgent) Unlock([]byte) error            { return errReadOnly }
func (a *connAgent) Signers() ([]ssh.Signer, error) { return nil, errReadOnly }
