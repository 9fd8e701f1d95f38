package sshagent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// LoadKeyFile reads a private key file (OpenSSH's format, or PEM). For an
// encrypted key it calls passphrase once; a nil passphrase refuses
// encrypted keys.
func LoadKeyFile(path string, passphrase func() ([]byte, error)) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case errors.As(err, &missing):
		return loadEncryptedKey(path, data, passphrase)
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("ssh-")) || bytes.HasPrefix(bytes.TrimSpace(data), []byte("ecdsa-")):
		return nil, fmt.Errorf("reading ssh key %q: this is a public key\n\nGive the private key file: the same name without .pub", path)
	default:
		return nil, fmt.Errorf("reading ssh key %q: %w\n\nGive a private key file as ssh-keygen writes it (ssh-keygen -t ed25519 -f FILE makes one)", path, err)
	}
}

func loadEncryptedKey(path string, data []byte, passphrase func() ([]byte, error)) (ssh.Signer, error) {
	if passphrase == nil {
		return nil, fmt.Errorf("ssh key %q is encrypted and no passphrase can be asked for\n\nRun the command on a terminal, or load the key into ssh-agent and grant it by fingerprint", path)
	}
	pass, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase of ssh key %q: %w", path, err)
	}
	signer, err := ssh.ParsePrivateKeyWithPassphrase(data, pass)
	if err != nil {
		return nil, fmt.Errorf("decrypting ssh key %q: %w\n\nCheck the passphrase: ssh-keygen -y -f %s asks for it and prints the public key", path, err, path)
	}
	return signer, nil
}

// FindAgentKey finds the key with the given SHA256 fingerprint
// ("SHA256:..." as ssh-add -l prints it, with or without the prefix) in the
// user's ssh-agent, and returns a Backend that signs through that agent.
func FindAgentKey(upstream agent.ExtendedAgent, fingerprint string) (AgentBackend, error) {
	want := "SHA256:" + strings.TrimPrefix(strings.TrimSpace(fingerprint), "SHA256:")
	keys, err := upstream.List()
	if err != nil {
		return AgentBackend{}, fmt.Errorf("listing the keys of ssh-agent: %w\n\nCheck that SSH_AUTH_SOCK names a running ssh-agent: ssh-add -l", err)
	}
	for _, k := range keys {
		pub, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			continue // a key type x/crypto does not know cannot be the one
		}
		if ssh.FingerprintSHA256(pub) == want {
			return AgentBackend{Upstream: upstream, Key: pub}, nil
		}
	}
	return AgentBackend{}, fmt.Errorf("ssh-agent holds no key %s (it holds %d)\n\nList its keys with 'ssh-add -l'; add one with 'ssh-add FILE'", want, len(keys))
}

// ParseHostKey parses a pinned host key in authorized_keys form
// ("ssh-ed25519 AAAA...", as in a known_hosts line after the host names).
func ParseHostKey(text string) (ssh.PublicKey, error) {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("parsing host key %q: %w\n\nGive the key as 'TYPE BASE64', such as the output of 'ssh-keyscan HOST' without the host name", text, err)
	}
	return key, nil
}

// KnownHostKeys returns the keys a known_hosts file lists for host
// ("github.com", or "host:port" for another port than 22), hashed entries
// included. Revoked keys are left out, and so are @cert-authority lines: a
// grant accepts plain host keys only.
func KnownHostKeys(path, host string) ([]ssh.PublicKey, error) {
	caLines, err := checkKnownHosts(path)
	if err != nil {
		return nil, err
	}
	check, err := knownhosts.New(path)
	if err != nil {
		return nil, fmt.Errorf("reading known hosts: %w", err)
	}
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(host, "22")
	}
	remote := &net.TCPAddr{IP: net.IPv4zero, Port: 22} // unused: the name is checked, not an address
	var keyErr *knownhosts.KeyError
	if err := check(addr, remote, probeKey{}); !errors.As(err, &keyErr) {
		return nil, fmt.Errorf("looking up %q in %s: %v", host, path, err)
	}
	var keys []ssh.PublicKey
	for _, k := range keyErr.Want {
		if caLines[k.Line] {
			continue
		}
		if check(addr, remote, k.Key) == nil { // not revoked
			keys = append(keys, k.Key)
		}
	}
	if len(keys) == 0 {
		return nil, &NoHostKeyError{Path: path, Host: host, addr: knownhosts.Normalize(addr)}
	}
	return keys, nil
}

// NoHostKeyError reports that a known_hosts file lists no usable key for
// Host, so that a caller can say how to get one in its own words.
type NoHostKeyError struct {
	Path, Host string
	addr       string // as known_hosts spells it: "[host]:port"
}

func (e *NoHostKeyError) Error() string {
	return fmt.Sprintf("%s lists no host key for %q\n\nConnect once with 'ssh %s' and check the fingerprint it shows, or pin the key in the grant",
		e.Path, e.addr, e.Host)
}

// checkKnownHosts parses every line of a known_hosts file, so that an error
// names the line and the fix, and returns the @cert-authority lines.
func checkKnownHosts(path string) (caLines map[int]bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading known hosts: %w", err)
	}
	caLines = map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		marker, _, _, _, _, err := ssh.ParseKnownHosts(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not a known_hosts line: %v\n\nFix or delete that line ('ssh-keygen -R HOST -f %s' removes a host's lines)", path, n, err, path)
		}
		if marker == "cert-authority" {
			caLines[n] = true
		}
	}
	return caLines, sc.Err()
}

// probeKey is a key no known_hosts line can hold: checking it makes
// knownhosts list the keys it knows for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "moat-probe" }
func (probeKey) Marshal() []byte                     { return []byte("moat-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
