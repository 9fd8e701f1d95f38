package sshgrant

import (
	"bytes"
	"fmt"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/sshagent"
)

// Getter looks a grant up with its secret (a *grant.Store does): Get
// authenticates the metadata, pinned host keys included.
type Getter interface {
	Get(name string) (grant.Grant, grant.Secret, error)
}

// Load returns the key the run's SSH agent serves for the ssh grant
// called name. upstream is the user's ssh-agent: used, and required, only
// when the grant's key is kept there.
func Load(grants Getter, name string, upstream agent.ExtendedAgent) (sshagent.Key, error) {
	g, secret, err := grants.Get(name)
	if err != nil {
		return sshagent.Key{}, err
	}
	return Key(g, secret, upstream)
}

// Key turns an ssh grant, as Get returned it, into the key the run's SSH
// agent serves: its name, its hosts with their pinned host keys, and a
// backend that signs with the sealed private key or through upstream, the
// user's ssh-agent.
func Key(g grant.Grant, secret grant.Secret, upstream agent.ExtendedAgent) (sshagent.Key, error) {
	if g.Kind != grant.SSH || g.SSH == nil {
		return sshagent.Key{}, fmt.Errorf("grant %q is a %s grant, not an ssh grant", g.Name, g.Kind)
	}
	pub, err := sshagent.ParseHostKey(g.SSH.PublicKey) // the same "TYPE BASE64" form
	if err != nil {
		return sshagent.Key{}, damaged(g, "its public key does not parse")
	}
	hosts, err := hostsOf(g)
	if err != nil {
		return sshagent.Key{}, err
	}
	backend, err := backendOf(g, pub, secret, upstream)
	if err != nil {
		return sshagent.Key{}, err
	}
	return sshagent.Key{Grant: g.Name, Backend: backend, Hosts: hosts}, nil
}

func hostsOf(g grant.Grant) ([]sshagent.Host, error) {
	var hosts []sshagent.Host
	for _, h := range g.SSH.Hosts {
		host := sshagent.Host{Name: h.Name}
		for _, text := range h.Keys {
			k, err := sshagent.ParseHostKey(text)
			if err != nil {
				return nil, damaged(g, fmt.Sprintf("a host key of %s does not parse", h.Name))
			}
			host.Keys = append(host.Keys, k)
		}
		hosts = append(hosts, host)
	}
	return hosts, nil
}

func backendOf(g grant.Grant, pub ssh.PublicKey, secret grant.Secret, upstream agent.ExtendedAgent) (sshagent.Backend, error) {
	if g.SSH.Source == grant.SSHFromAgent {
		if upstream == nil {
			return nil, &AgentError{Why: fmt.Sprintf("ssh grant %q's key %s is kept there, and no ssh-agent is reachable", g.Name, g.SSH.Fingerprint)}
		}
		b, err := sshagent.FindAgentKey(upstream, g.SSH.Fingerprint)
		if err != nil {
			return nil, fmt.Errorf("ssh grant %q: %w", g.Name, err)
		}
		return b, nil
	}
	pem := secret.Reveal()
	defer clear(pem)
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, damaged(g, "its private key does not parse")
	}
	if !bytes.Equal(signer.PublicKey().Marshal(), pub.Marshal()) {
		return nil, damaged(g, "its private key is not the key its metadata names")
	}
	return sshagent.SignerBackend{Signer: signer}, nil
}

// damaged reports a grant that authenticated but does not hold what an
// ssh grant must: it was stored by a moat with other rules.
func damaged(g grant.Grant, why string) error {
	return &grant.InvalidError{What: "ssh grant", Value: g.Name, Why: why,
		Remedy: fmt.Sprintf("Run 'moat revoke %s', then store the grant again.", g.Name)}
}
