package sshgrant

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/sshagent"
)

// Pin is a host key given on the command line for one host.
type Pin struct {
	Host string // normalized, as grant.NormalizeSSHHost returns it
	Key  string // "TYPE BASE64"
}

// ParsePin parses "HOST TYPE BASE64", as a known_hosts line or
// 'ssh-keyscan HOST' prints it with one host name. HOST may be "[host]:port".
func ParsePin(text string) (Pin, error) {
	host, key, ok := strings.Cut(strings.TrimSpace(text), " ")
	if !ok || strings.Contains(key, "\n") {
		return Pin{}, &grant.InvalidError{What: "host key", Value: text, Why: "must be one 'HOST TYPE BASE64'",
			Remedy: "Give the host and its key as 'ssh-keyscan HOST' prints them, like --host-key 'github.com ssh-ed25519 AAAA...'."}
	}
	if inner, port, ok := strings.Cut(strings.TrimPrefix(host, "["), "]:"); ok && strings.HasPrefix(host, "[") {
		host = inner + ":" + port
	}
	name, err := grant.NormalizeSSHHost(host)
	if err != nil {
		return Pin{}, err
	}
	pub, err := sshagent.ParseHostKey(key)
	if err != nil {
		return Pin{}, &grant.InvalidError{What: "host key", Value: text, Why: strings.SplitN(err.Error(), "\n", 2)[0],
			Remedy: "Give the host and its key as 'ssh-keyscan HOST' prints them, like --host-key 'github.com ssh-ed25519 AAAA...'."}
	}
	return Pin{Host: name, Key: authorized(pub)}, nil
}

// HostKeys returns, for each of hosts (normalized), the host keys a grant
// pins for it: its pins, and the keys the known_hosts file at knownHosts
// lists for it (hashed entries too). A missing known_hosts file counts as
// empty unless required (the user named it). A host with no key at all is
// an error that says how to get one.
func HostKeys(hosts []string, knownHosts string, required bool, pins []Pin) ([]grant.SSHHost, error) {
	for _, p := range pins {
		if !slices.Contains(hosts, p.Host) {
			return nil, &grant.InvalidError{What: "host key", Value: p.Host, Why: "is for a host the grant does not name",
				Remedy: fmt.Sprintf("Add --host %s, or pin keys of the hosts given with --host.", p.Host)}
		}
	}
	haveFile, err := knownHostsExists(knownHosts, required)
	if err != nil {
		return nil, err
	}
	var out []grant.SSHHost
	for _, h := range hosts {
		entry := grant.SSHHost{Name: h}
		for _, p := range pins {
			if p.Host == h && !slices.Contains(entry.Keys, p.Key) {
				entry.Keys = append(entry.Keys, p.Key)
			}
		}
		if haveFile {
			keys, err := knownKeys(knownHosts, h)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				if !slices.Contains(entry.Keys, k) {
					entry.Keys = append(entry.Keys, k)
				}
			}
		}
		if len(entry.Keys) == 0 {
			return nil, &NoHostKeyError{Host: h, KnownHosts: knownHosts}
		}
		out = append(out, entry)
	}
	return out, nil
}

func knownHostsExists(path string, required bool) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist) && !required:
		return false, nil
	}
	return false, fmt.Errorf("reading known hosts: %w", err)
}

// knownKeys returns the keys known_hosts lists for host, none when it lists
// none.
func knownKeys(path, host string) ([]string, error) {
	keys, err := sshagent.KnownHostKeys(path, host)
	var none *sshagent.NoHostKeyError
	if errors.As(err, &none) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = authorized(k)
	}
	return out, nil
}

// NoHostKeyError reports a host of a grant for which no host key is known:
// without one no session with it could be checked.
type NoHostKeyError struct {
	Host       string
	KnownHosts string
}

func (e *NoHostKeyError) Error() string {
	return fmt.Sprintf("no host key known for %s: %s lists none, and no --host-key pins one", e.Host, e.KnownHosts)
}

// Hint says how to get the host's key, checked.
func (e *NoHostKeyError) Hint() string { return grant.SSHHostKeyRemedy(e.Host) }

// authorized renders a public key as "TYPE BASE64".
func authorized(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
