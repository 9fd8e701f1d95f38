package sshgrant

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/sshagent"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pubOf(t *testing.T, priv ed25519.PrivateKey) ssh.PublicKey {
	t.Helper()
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// writeKey writes priv as OpenSSH does, encrypted when passphrase is set.
func writeKey(t *testing.T, dir string, priv ed25519.PrivateKey, passphrase string) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeKey(t, dir, newKey(t), "")
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("x"), 0o644)
	pub := filepath.Join(dir, "id_ed25519.pub")
	os.WriteFile(pub, ssh.MarshalAuthorizedKey(pubOf(t, newKey(t))), 0o644)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxKeyFile+1), 0o600)
	tests := []struct {
		path, wantErr, wantHint string
	}{
		{good, "", ""},
		{link, "is a symbolic link", "Give the key file itself: --key " + good},
		{dir, "is not a regular file", ""},
		{open, "other users can access it (mode 0644), and ssh would refuse it", "chmod 600 " + open},
		{pub, "is a public key; moat needs the private key", "the same name without .pub"},
		{big, "is larger than 64 KiB", ""},
		{filepath.Join(dir, "missing"), "no such file", ""},
	}
	for _, tt := range tests {
		data, err := ReadKeyFile(tt.path)
		if tt.wantErr == "" {
			if err != nil || !strings.Contains(string(data), "OPENSSH PRIVATE KEY") {
				t.Errorf("%s: %v", tt.path, err)
			}
			continue
		}
		var kfe *KeyFileError
		if !errors.As(err, &kfe) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(kfe.Hint(), tt.wantHint) {
			t.Errorf("%s: got %v (hint %q), want %q and a hint with %q", tt.path, err, hintOf(err), tt.wantErr, tt.wantHint)
		}
	}
}

func hintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	priv := newKey(t)
	want := pubOf(t, priv)
	dir := t.TempDir()
	plain, _ := os.ReadFile(writeKey(t, dir, priv, ""))
	encrypted, _ := os.ReadFile(writeKey(t, t.TempDir(), priv, "s3cret"))
	public := ssh.MarshalAuthorizedKey(want)
	asked := 0
	pass := func(p string) func() ([]byte, error) {
		return func() ([]byte, error) { asked++; return []byte(p), nil }
	}
	tests := []struct {
		name       string
		data       []byte
		passphrase func() ([]byte, error)
		wantAsks   int
		wantErr    string
		wantHint   string
	}{
		{name: "plain", data: plain, passphrase: pass("unused")},
		{name: "encrypted", data: encrypted, passphrase: pass("s3cret"), wantAsks: 1},
		{name: "encrypted, no terminal", data: encrypted, wantErr: "is encrypted, and there is no terminal to ask for its passphrase",
			wantHint: EncryptedKeyRemedy},
		{name: "wrong passphrase", data: encrypted, passphrase: pass("nope"), wantAsks: 1, wantErr: "decrypting it",
			wantHint: "ssh-keygen -y -f key"},
		{name: "a public key", data: public, wantErr: "is a public key; moat needs the private key",
			wantHint: "the same name without .pub"},
		{name: "garbage", data: []byte("hello"), wantErr: "is not a private key moat can read", wantHint: "ssh-keygen -t ed25519"},
	}
	for _, tt := range tests {
		asked = 0
		got, secret, err := ParseKey("key", tt.data, tt.passphrase)
		if asked != tt.wantAsks {
			t.Errorf("%s: passphrase asked %d times, want %d", tt.name, asked, tt.wantAsks)
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(hintOf(err), tt.wantHint) {
				t.Errorf("%s: got %v (hint %q), want %q", tt.name, err, hintOf(err), tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		// The secret is the key decrypted: it parses without a passphrase.
		signer, err := ssh.ParsePrivateKey(secret.Reveal())
		if err != nil || string(signer.PublicKey().Marshal()) != string(want.Marshal()) || string(got.Marshal()) != string(want.Marshal()) {
			t.Fatalf("%s: stored key %v, public key %v; want the file's key, unencrypted", tt.name, err, got)
		}
	}
}

// writeKnownHosts writes a known_hosts file with a hashed line for
// github.com and a plain one for git.example.com on port 2222.
func writeKnownHosts(t *testing.T, github, example ssh.PublicKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	content := knownhosts.Line([]string{knownhosts.HashHostname("github.com")}, github) + "\n" +
		knownhosts.Line([]string{"[git.example.com]:2222"}, example) + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	ghKey, exKey, pinKey := pubOf(t, newKey(t)), pubOf(t, newKey(t)), pubOf(t, newKey(t))
	known := writeKnownHosts(t, ghKey, exKey)
	pin, err := ParsePin("[git.example.com]:2222 " + authorized(pinKey))
	if err != nil || pin.Host != "git.example.com:2222" {
		t.Fatalf("ParsePin = %+v, %v", pin, err)
	}
	missing := filepath.Join(t.TempDir(), "known_hosts")

	hosts, err := HostKeys([]string{"github.com", "git.example.com:2222"}, known, true, []Pin{pin})
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0].Name != "github.com" || len(hosts[0].Keys) != 1 || hosts[0].Keys[0] != authorized(ghKey) ||
		len(hosts[1].Keys) != 2 || hosts[1].Keys[0] != authorized(pinKey) || hosts[1].Keys[1] != authorized(exKey) {
		t.Fatalf("HostKeys = %+v; want github.com's hashed entry, and the pin with git.example.com:2222's entry", hosts)
	}
	if hosts, err := HostKeys([]string{"git.example.com:2222"}, missing, false, []Pin{pin}); err != nil || len(hosts[0].Keys) != 1 {
		t.Fatalf("pins without the default known_hosts: %+v, %v", hosts, err)
	}

	var none *NoHostKeyError
	_, err = HostKeys([]string{"gitlab.com"}, known, false, nil)
	if !errors.As(err, &none) || none.Host != "gitlab.com" || !strings.Contains(none.Hint(), "ssh-keyscan gitlab.com >> ~/.ssh/known_hosts") {
		t.Fatalf("an unknown host: %v (hint %q)", err, hintOf(err))
	}
	if _, err := HostKeys([]string{"github.com"}, missing, false, nil); !errors.As(err, &none) {
		t.Fatalf("no known_hosts file and no pin: %v, want NoHostKeyError", err)
	}
	if _, err := HostKeys([]string{"github.com"}, missing, true, nil); err == nil || !strings.Contains(err.Error(), "reading known hosts") {
		t.Fatalf("a known_hosts file named but missing: %v", err)
	}
	if _, err := HostKeys([]string{"github.com"}, known, true, []Pin{pin}); err == nil || !strings.Contains(err.Error(), "is for a host the grant does not name") {
		t.Fatalf("a pin for another host: %v", err)
	}
	for _, bad := range []string{"github.com", "github.com ssh-ed25519 !!!", "*.github.com " + authorized(pinKey),
		"github.com " + authorized(pinKey) + "\ngithub.com " + authorized(ghKey)} {
		if _, err := ParsePin(bad); err == nil {
			t.Errorf("ParsePin(%q) accepted", bad)
		}
	}
}

// storeGrant stores an ssh grant for github.com and returns the store.
func storeGrant(t *testing.T, source grant.SSHSource, pub ssh.PublicKey, secret grant.Secret, hostKey ssh.PublicKey) *grant.Store {
	t.Helper()
	dir := t.TempDir()
	s := grant.NewStore(filepath.Join(dir, "grants"), grant.FileKey(filepath.Join(dir, "key")))
	g := grant.Grant{Name: "deploy", Kind: grant.SSH, SSH: &grant.SSHKey{Source: source, PublicKey: authorized(pub),
		Hosts: []grant.SSHHost{{Name: "github.com", Keys: []string{authorized(hostKey)}}}}}
	if err := s.Put(g, secret); err != nil {
		t.Fatal(err)
	}
	return s
}

// signs checks that k's backend makes signatures its public key verifies.
func signs(t *testing.T, k sshagent.Key) {
	t.Helper()
	sig, err := k.Backend.Sign([]byte("data"), 0)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := k.Backend.PublicKey().Verify([]byte("data"), sig); err != nil {
		t.Fatalf("the signature does not verify: %v", err)
	}
}

func TestLoadFileKey(t *testing.T) {
	t.Parallel()
	priv := newKey(t)
	hostKey := pubOf(t, newKey(t))
	data, _ := os.ReadFile(writeKey(t, t.TempDir(), priv, ""))
	pub, secret, err := ParseKey("key", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := storeGrant(t, grant.SSHFromFile, pub, secret, hostKey)
	k, err := Load(s, "deploy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Grant != "deploy" || len(k.Hosts) != 1 || k.Hosts[0].Name != "github.com" || len(k.Hosts[0].Keys) != 1 ||
		string(k.Hosts[0].Keys[0].Marshal()) != string(hostKey.Marshal()) {
		t.Fatalf("Load = %+v; want the grant's name and its host with its pinned key", k)
	}
	if _, ok := k.Backend.(sshagent.SignerBackend); !ok {
		t.Fatalf("backend %T, want a SignerBackend", k.Backend)
	}
	signs(t, k)
	if _, err := sshagent.New(sshagent.Config{Keys: []sshagent.Key{k}, Confirm: func(string, ssh.PublicKey) error { return nil }}); err != nil {
		t.Fatalf("the run's agent refuses the key: %v", err)
	}

	// A grant whose sealed key is not the one its metadata names.
	g, _, _ := s.Get("deploy")
	other, _ := os.ReadFile(writeKey(t, t.TempDir(), newKey(t), ""))
	if _, err := Key(g, grant.NewSecret(other), nil); err == nil || !strings.Contains(err.Error(), "is not the key its metadata names") {
		t.Fatalf("a mismatched key: %v", err)
	}
	if _, err := Load(s, "nope", nil); !errors.As(err, new(*grant.NotFoundError)) {
		t.Fatalf("a missing grant: %v", err)
	}
}

func TestLoadAgentKey(t *testing.T) {
	t.Parallel()
	priv := newKey(t)
	pub := pubOf(t, priv)
	upstream := agent.NewKeyring().(agent.ExtendedAgent)
	s := storeGrant(t, grant.SSHFromAgent, pub, grant.Secret{}, pubOf(t, newKey(t)))

	if _, err := Load(s, "deploy", nil); !errors.As(err, new(*AgentError)) {
		t.Fatalf("no agent: %v, want an AgentError", err)
	}
	if _, err := Load(s, "deploy", upstream); err == nil || !strings.Contains(err.Error(), "ssh-agent holds no key "+ssh.FingerprintSHA256(pub)) {
		t.Fatalf("an agent without the key: %v", err)
	}
	if err := upstream.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	k, err := Load(s, "deploy", upstream)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := k.Backend.(sshagent.AgentBackend); !ok || b.Upstream != upstream {
		t.Fatalf("backend %T, want an AgentBackend on the user's agent", k.Backend)
	}
	signs(t, k)
}

func TestAgentKeys(t *testing.T) {
	t.Parallel()
	upstream := agent.NewKeyring().(agent.ExtendedAgent)
	priv := newKey(t)
	upstream.Add(agent.AddedKey{PrivateKey: priv, Comment: "me@laptop"})
	keys, err := AgentKeys(upstream)
	if want := ssh.FingerprintSHA256(pubOf(t, priv)) + " me@laptop (ED25519)"; err != nil || len(keys) != 1 || keys[0] != want {
		t.Fatalf("AgentKeys = %q, %v; want [%q]", keys, err, want)
	}
	if _, err := AgentKey(upstream, ssh.FingerprintSHA256(pubOf(t, priv))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DialAgent(""); !errors.As(err, new(*AgentError)) {
		t.Fatalf("no SSH_AUTH_SOCK: %v", err)
	}
}
