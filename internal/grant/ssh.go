package grant

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
)

// An ssh grant is an SSH key that signs only for the hosts it names. Its
// metadata (SSHKey) says which key, where it is and which host keys each
// host may present; the secret is the private key (OpenSSH format, never
// encrypted: moat decrypts it once when it is granted) or, for a key the
// user's ssh-agent keeps, nothing. The seal covers the metadata, so the
// pinned host keys are as tamper-proof as the key: Store.Get refuses a
// file whose host keys were edited.
//
// This package reads the metadata with the standard library only; what
// turns a grant into a signing key is internal/sshgrant.

// ChannelSSH is the Channel of the ssh kind: the run's SSH agent, not the
// proxy, uses its credential.
const ChannelSSH = "ssh"

// SSHSource says where an ssh grant's private key is.
type SSHSource string

const (
	// SSHFromFile: the key was read from a file and is sealed in the grant.
	SSHFromFile SSHSource = "file"
	// SSHFromAgent: the user's ssh-agent holds the key; the grant holds
	// only its public key.
	SSHFromAgent SSHSource = "agent"
)

// SSHKey is an ssh grant's public metadata.
type SSHKey struct {
	Source SSHSource `json:"source"`
	// PublicKey is the key in authorized_keys form, without a comment:
	// "ssh-ed25519 AAAA...".
	PublicKey string `json:"public_key"`
	// Fingerprint is the key's SHA256 fingerprint, as ssh-add -l prints it.
	Fingerprint string    `json:"fingerprint"`
	Hosts       []SSHHost `json:"hosts"`
}

// SSHHost is a host an ssh grant signs for, and the host keys it may
// present, pinned when the grant was stored.
type SSHHost struct {
	// Name is "github.com", or "host:port" for another port than 22.
	Name string `json:"name"`
	// Keys are host keys in authorized_keys form: "ssh-ed25519 AAAA...".
	Keys []string `json:"keys"`
}

// sshApplier is the ssh kind's Applier: its key signs for SSH sessions,
// so the proxy never intercepts or injects for it.
type sshApplier struct{}

func (sshApplier) Channel() string { return ChannelSSH }

func (sshApplier) normalize(g Grant) (Grant, error) { return normalizeSSH(g) }

// checkSecret: a key from a file is an unencrypted OpenSSH private key;
// an agent-held key has no secret at all.
func (sshApplier) checkSecret(g Grant, s Secret) error {
	if g.SSH.Source == SSHFromAgent {
		if !s.IsZero() {
			return &InvalidError{What: "ssh grant", Value: g.Name, Why: "a key held by ssh-agent has no secret to store"}
		}
		return nil
	}
	if why := unencryptedOpenSSHKey(s.bytes()); why != "" {
		return &InvalidError{What: "ssh key", Why: why}
	}
	return nil
}

// unencryptedOpenSSHKey returns why s is not an unencrypted private key
// in OpenSSH's format, or "".
func unencryptedOpenSSHKey(b []byte) string {
	if len(b) == 0 {
		return "is empty"
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "OPENSSH PRIVATE KEY" || len(bytes.TrimSpace(rest)) > 0 {
		return "is not a private key in OpenSSH's format"
	}
	const magic = "openssh-key-v1\x00"
	body, ok := bytes.CutPrefix(block.Bytes, []byte(magic))
	if !ok {
		return "is not a private key in OpenSSH's format"
	}
	if cipher, _, ok := readSSHString(body); !ok || string(cipher) != "none" {
		return "is encrypted (moat stores keys decrypted, sealed under the grant key)"
	}
	return ""
}

// ValidateSSHName checks the name of an ssh grant: a grant name that is
// not a kind's (those are the built-in grants' names).
func ValidateSSHName(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if _, ok := LookupKind(Kind(name)); ok {
		return &InvalidError{What: "grant name", Value: name,
			Why: "is reserved for the built-in grant", Remedy: fmt.Sprintf("Choose another name, like '%s-ssh'.", name)}
	}
	return nil
}

// normalizeSSH checks an ssh grant and returns it in stored form: its
// Hosts are the names of its SSH hosts, each normalized, with at least
// one valid host key; its public key is canonical and its fingerprint
// matches it.
func normalizeSSH(g Grant) (Grant, error) {
	bad := func(why, remedy string) (Grant, error) {
		return Grant{}, &InvalidError{What: "ssh grant", Value: g.Name, Why: why, Remedy: remedy}
	}
	if err := ValidateSSHName(g.Name); err != nil {
		return Grant{}, err
	}
	switch {
	case g.SSH == nil:
		return bad("it has no key", "Pass --key FILE or --agent-key FINGERPRINT.")
	case g.Header != "":
		return bad("an ssh grant sets no header", "")
	case g.SSH.Source != SSHFromFile && g.SSH.Source != SSHFromAgent:
		return bad(fmt.Sprintf("unknown key source %q", g.SSH.Source), "")
	case len(g.SSH.Hosts) == 0:
		return bad("it needs at least one host", "Pass --host, for example --host github.com.")
	}
	key, err := NormalizeSSHPublicKey(g.SSH.PublicKey)
	if err != nil {
		return Grant{}, err
	}
	out := g
	out.SSH = &SSHKey{Source: g.SSH.Source, PublicKey: key, Fingerprint: SSHFingerprint(key)}
	if g.SSH.Fingerprint != "" && g.SSH.Fingerprint != out.SSH.Fingerprint {
		return bad(fmt.Sprintf("fingerprint %s does not match its public key (%s)", g.SSH.Fingerprint, out.SSH.Fingerprint), "")
	}
	out.Hosts = nil
	for _, h := range g.SSH.Hosts {
		host, err := normalizeSSHHostEntry(h)
		if err != nil {
			return Grant{}, err
		}
		if slices.Contains(out.Hosts, host.Name) {
			return bad(fmt.Sprintf("host %s is named twice", host.Name), "")
		}
		out.Hosts = append(out.Hosts, host.Name)
		out.SSH.Hosts = append(out.SSH.Hosts, host)
	}
	if len(g.Hosts) > 0 && !slices.Equal(normalizedAll(g.Hosts), out.Hosts) {
		return bad("its hosts and its ssh hosts differ", "")
	}
	return out, nil
}

func normalizedAll(hosts []string) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i], _ = NormalizeSSHHost(h)
	}
	return out
}

func normalizeSSHHostEntry(h SSHHost) (SSHHost, error) {
	name, err := NormalizeSSHHost(h.Name)
	if err != nil {
		return SSHHost{}, err
	}
	if len(h.Keys) == 0 {
		return SSHHost{}, &InvalidError{What: "ssh host", Value: name, Why: "has no host key",
			Remedy: SSHHostKeyRemedy(name)}
	}
	out := SSHHost{Name: name}
	for _, k := range h.Keys {
		key, err := NormalizeSSHPublicKey(k)
		if err != nil {
			return SSHHost{}, err
		}
		if !slices.Contains(out.Keys, key) {
			out.Keys = append(out.Keys, key)
		}
	}
	return out, nil
}

// SSHHostKeyRemedy says how to give host a host key.
func SSHHostKeyRemedy(host string) string {
	scan := "ssh-keyscan " + host
	if name, port, ok := strings.Cut(host, ":"); ok {
		scan = "ssh-keyscan -p " + port + " " + name
	}
	return fmt.Sprintf("Add its keys to ~/.ssh/known_hosts ('%s >> ~/.ssh/known_hosts', then check the fingerprints "+
		"'ssh-keygen -lf ~/.ssh/known_hosts' prints against ones the host's operator publishes), or pin one with "+
		"--host-key '%s TYPE BASE64'.", scan, host)
}

// NormalizeSSHHost validates a host an ssh grant names, as 'ssh' takes it:
// a DNS name or IPv4 address, optionally with ":port". It returns it in
// lower case without a trailing dot, and without ":22", the default.
func NormalizeSSHHost(host string) (string, error) {
	h, err := NormalizeHost(host)
	if err == nil && strings.HasPrefix(h, "*.") {
		err = &InvalidError{Why: "an ssh grant names each host: no wildcards"}
	}
	if err != nil {
		return "", &InvalidError{What: "ssh host", Value: host, Why: err.(*InvalidError).Why,
			Remedy: "Give the host as 'ssh' takes it, like github.com or git.example.com:2222."}
	}
	return strings.TrimSuffix(h, ":22"), nil
}

// NormalizeSSHPublicKey checks a public key in authorized_keys form
// ("TYPE BASE64 [comment]") and returns "TYPE BASE64": the type the key's
// encoding names, and no comment. Certificates are refused: a grant holds
// plain keys.
func NormalizeSSHPublicKey(text string) (string, error) {
	bad := func(why string) (string, error) {
		return "", &InvalidError{What: "ssh public key", Value: text, Why: why,
			Remedy: "Give the key as 'TYPE BASE64', as in a known_hosts line after the host names."}
	}
	fields := strings.Fields(text)
	if len(fields) < 2 {
		return bad("must be a key type and its base64 encoding")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return bad("its key is not base64")
	}
	typ, rest, ok := readSSHString(blob)
	switch {
	case !ok || len(rest) == 0:
		return bad("its key is not an SSH public key")
	case string(typ) != fields[0]:
		return bad(fmt.Sprintf("it says %s, but the key is %s", fields[0], typ))
	case strings.Contains(fields[0], "-cert-"):
		return bad("certificates are not accepted; give a plain key")
	}
	return fields[0] + " " + fields[1], nil
}

// SSHFingerprint returns the SHA256 fingerprint of a public key in
// authorized_keys form, as ssh-keygen -l prints it, or "" if it is not one.
func SSHFingerprint(publicKey string) string {
	fields := strings.Fields(publicKey)
	if len(fields) < 2 {
		return ""
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// readSSHString reads an SSH wire string (a uint32 length, then the
// bytes) off b.
func readSSHString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
