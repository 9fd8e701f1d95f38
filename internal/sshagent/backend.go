package sshagent

import (
	"crypto/rand"
	"errors"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// A Backend makes signatures with one granted key. Implementations must be
// safe for concurrent use: every client connection signs through the same
// Backend.
type Backend interface {
	PublicKey() ssh.PublicKey
	// Sign signs data, honouring agent.SignatureFlagRsaSha256 and
	// agent.SignatureFlagRsaSha512 for RSA keys.
	Sign(data []byte, flags agent.SignatureFlags) (*ssh.Signature, error)
}

// SignerBackend signs with a key held in this process, such as one
// LoadKeyFile read.
type SignerBackend struct {
	Signer ssh.Signer
}

func (b SignerBackend) PublicKey() ssh.PublicKey { return b.Signer.PublicKey() }

func (b SignerBackend) Sign(data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	alg := rsaAlgorithm(b.Signer.PublicKey(), flags)
	if alg == "" {
		return b.Signer.Sign(rand.Reader, data)
	}
	as, ok := b.Signer.(ssh.AlgorithmSigner)
	if !ok {
		return nil, errors.New("the key's signer cannot make " + alg + " signatures")
	}
	return as.SignWithAlgorithm(rand.Reader, data, alg)
}

// AgentBackend signs with a key the user's ssh-agent holds: the request is
// passed on and the private key never leaves that agent. It holds the
// agent's client and the public key, nothing else.
type AgentBackend struct {
	Upstream agent.ExtendedAgent
	Key      ssh.PublicKey
}

func (b AgentBackend) PublicKey() ssh.PublicKey { return b.Key }

func (b AgentBackend) Sign(data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	return b.Upstream.SignWithFlags(b.Key, data, flags)
}

// rsaAlgorithm is the signature algorithm the flags ask for, "" for the
// key's default: the flags mean something for RSA keys only, as in
// OpenSSH's agent.
func rsaAlgorithm(key ssh.PublicKey, flags agent.SignatureFlags) string {
	if key.Type() != ssh.KeyAlgoRSA && key.Type() != ssh.CertAlgoRSAv01 {
		return ""
	}
	switch {
	case flags&agent.SignatureFlagRsaSha512 != 0:
		return ssh.KeyAlgoRSASHA512
	case flags&agent.SignatureFlagRsaSha256 != 0:
		return ssh.KeyAlgoRSASHA256
	}
	return ""
}
