package sshagent

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/moatsh/moat/internal/plural"
)

// sessionBindExtension is OpenSSH's agent extension by which ssh reports
// the session it is about to authenticate (PROTOCOL.agent, section 1).
const sessionBindExtension = "session-bind@openssh.com"

// maxSessionIDLen bounds a session identifier: an exchange hash is at most
// a SHA-512 digest; OpenSSH's agent allows up to 128 bytes.
const maxSessionIDLen = 128

// sessionBind is a session-bind@openssh.com request.
type sessionBind struct {
	hostKey    ssh.PublicKey
	sessionID  []byte
	signature  *ssh.Signature
	forwarding bool
}

// parseSessionBind parses the extension's contents: string hostkey,
// string session identifier, string signature, bool is_forwarding.
func parseSessionBind(contents []byte) (*sessionBind, error) {
	var w struct {
		HostKey    []byte
		SessionID  []byte
		Signature  []byte
		Forwarding bool
	}
	if err := ssh.Unmarshal(contents, &w); err != nil {
		return nil, fmt.Errorf("parsing session bind: %w", err)
	}
	if len(w.SessionID) == 0 || len(w.SessionID) > maxSessionIDLen {
		return nil, fmt.Errorf("session identifier of %s: want 1 to %d", plural.Count(len(w.SessionID), "byte"), maxSessionIDLen)
	}
	hostKey, err := ssh.ParsePublicKey(w.HostKey)
	if err != nil {
		return nil, fmt.Errorf("parsing the host key: %w", err)
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(w.Signature, sig); err != nil {
		return nil, fmt.Errorf("parsing the signature: %w", err)
	}
	return &sessionBind{hostKey: hostKey, sessionID: w.SessionID, signature: sig, forwarding: w.Forwarding}, nil
}

// verify checks that the host key signed the session identifier, as the
// server did in the key exchange: only a client that ran that exchange
// with the server holds such a signature.
func (b *sessionBind) verify() error {
	return b.hostKey.Verify(b.sessionID, b.signature)
}

const (
	msgUserauthRequest = 50 // SSH_MSG_USERAUTH_REQUEST, RFC 4252
	methodPublickey    = "publickey"
	// methodHostbound is OpenSSH's publickey method that also signs the
	// server's host key (PROTOCOL, section 3.1); ssh uses it when the
	// server offers it.
	methodHostbound = "publickey-hostbound-v00@openssh.com"
)

// userauthRequest is the data a client asks the agent to sign for publickey
// authentication (RFC 4252, section 7).
type userauthRequest struct {
	sessionID []byte
	user      string
	key       ssh.PublicKey
	// hostKey is set for the hostbound method only.
	hostKey ssh.PublicKey
}

// userauthWire is the wire form of a publickey userauth request; Rest
// holds the host key of the hostbound method.
type userauthWire struct {
	SessionID    []byte
	Type         uint8
	User         string
	Service      string
	Method       string
	HasSignature bool
	Algorithm    string
	KeyBlob      []byte
	Rest         []byte `ssh:"rest"`
}

var errNotUserauth = errors.New("not a publickey userauth request")

// parseUserauthRequest parses data as a publickey userauth request with a
// signature to follow, made with key.
func parseUserauthRequest(data []byte, key ssh.PublicKey) (*userauthRequest, error) {
	var w userauthWire
	if err := ssh.Unmarshal(data, &w); err != nil {
		return nil, errNotUserauth
	}
	if len(w.SessionID) == 0 || w.Type != msgUserauthRequest || w.Service != "ssh-connection" || !w.HasSignature {
		return nil, errNotUserauth
	}
	if !bytes.Equal(w.KeyBlob, key.Marshal()) {
		return nil, fmt.Errorf("%w for this key", errNotUserauth)
	}
	if !algorithmFitsKey(w.Algorithm, key.Type()) {
		return nil, fmt.Errorf("%w: algorithm %q for a %s key", errNotUserauth, w.Algorithm, key.Type())
	}
	req := &userauthRequest{sessionID: w.SessionID, user: w.User, key: key}
	switch w.Method {
	case methodPublickey:
		if len(w.Rest) != 0 {
			return nil, fmt.Errorf("%w: trailing data", errNotUserauth)
		}
	case methodHostbound:
		var hb struct{ HostKey []byte }
		if err := ssh.Unmarshal(w.Rest, &hb); err != nil {
			return nil, fmt.Errorf("%w: host key: %v", errNotUserauth, err)
		}
		hostKey, err := ssh.ParsePublicKey(hb.HostKey)
		if err != nil {
			return nil, fmt.Errorf("%w: host key: %v", errNotUserauth, err)
		}
		req.hostKey = hostKey
	default:
		return nil, fmt.Errorf("%w: method %q", errNotUserauth, w.Method)
	}
	return req, nil
}

// algorithmFitsKey says whether a userauth request's algorithm name is one
// a key of keyType signs with: its own name, or an RSA SHA-2 variant.
func algorithmFitsKey(alg, keyType string) bool {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return alg == ssh.KeyAlgoRSA || alg == ssh.KeyAlgoRSASHA256 || alg == ssh.KeyAlgoRSASHA512
	case ssh.CertAlgoRSAv01:
		return alg == ssh.CertAlgoRSAv01 || alg == ssh.CertAlgoRSASHA256v01 || alg == ssh.CertAlgoRSASHA512v01
	}
	return alg == keyType
}
