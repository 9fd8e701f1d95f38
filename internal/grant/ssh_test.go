package grant

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newSSHKey returns a fresh ed25519 key: its public key in authorized
// form and the private key as OpenSSH writes it, unencrypted.
func newSSHKey(t *testing.T) (pub string, private []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), pem.EncodeToMemory(block)
}

func sshGrant(t *testing.T, source SSHSource) Grant {
	t.Helper()
	pub, _ := newSSHKey(t)
	hostKey, _ := newSSHKey(t)
	return Grant{Name: "deploy", Kind: SSH, SSH: &SSHKey{Source: source, PublicKey: pub + " me@laptop",
		Hosts: []SSHHost{{Name: "GitHub.com:22", Keys: []string{hostKey, hostKey}}, {Name: "git.example.com:2222", Keys: []string{hostKey}}}}}
}

func TestNormalizeSSH(t *testing.T) {
	t.Parallel()
	g, err := sshGrant(t, SSHFromAgent).Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"github.com", "git.example.com:2222"}; !reflect.DeepEqual(g.Hosts, want) {
		t.Fatalf("hosts %v, want %v (lower case, no :22)", g.Hosts, want)
	}
	if strings.Contains(g.SSH.PublicKey, "me@laptop") || g.SSH.Fingerprint != SSHFingerprint(g.SSH.PublicKey) ||
		!strings.HasPrefix(g.SSH.Fingerprint, "SHA256:") {
		t.Fatalf("key %q fingerprint %q: want no comment and its SHA256 fingerprint", g.SSH.PublicKey, g.SSH.Fingerprint)
	}
	if len(g.SSH.Hosts[0].Keys) != 1 {
		t.Fatalf("host keys %v: a key given twice is pinned once", g.SSH.Hosts[0].Keys)
	}
	pub, _ := newSSHKey(t)
	typ, b64, _ := strings.Cut(pub, " ")
	tests := []struct {
		name    string
		edit    func(g *Grant)
		wantErr string
	}{
		{"a built-in kind's name", func(g *Grant) { g.Name = "github" }, `invalid grant name "github": is reserved`},
		{"no key", func(g *Grant) { g.SSH = nil }, "it has no key"},
		{"a header", func(g *Grant) { g.Header = "Authorization" }, "an ssh grant sets no header"},
		{"unknown source", func(g *Grant) { g.SSH.Source = "cloud" }, `unknown key source "cloud"`},
		{"no host", func(g *Grant) { g.SSH.Hosts = nil }, "it needs at least one host"},
		{"a wildcard host", func(g *Grant) { g.SSH.Hosts[0].Name = "*.github.com" }, "no wildcards"},
		{"a URL for a host", func(g *Grant) { g.SSH.Hosts[0].Name = "ssh://github.com" }, `invalid ssh host "ssh://github.com"`},
		{"a host twice", func(g *Grant) { g.SSH.Hosts[1].Name = "github.com" }, "host github.com is named twice"},
		{"a host without keys", func(g *Grant) { g.SSH.Hosts[1].Keys = nil }, `invalid ssh host "git.example.com:2222": has no host key`},
		{"a wrong fingerprint", func(g *Grant) { g.SSH.Fingerprint = "SHA256:nope" }, "fingerprint SHA256:nope does not match"},
		{"a key of another type than it says", func(g *Grant) { g.SSH.PublicKey = "ssh-rsa " + b64 }, "it says ssh-rsa, but the key is " + typ},
		{"not base64", func(g *Grant) { g.SSH.PublicKey = typ + " !!!" }, "its key is not base64"},
		{"a certificate host key", func(g *Grant) {
			g.SSH.Hosts[0].Keys = []string{"ssh-ed25519-cert-v01@openssh.com " + certBlob()}
		}, "certificates are not accepted"},
		{"hosts that differ from the ssh hosts", func(g *Grant) { g.Hosts = []string{"gitlab.com"} }, "its hosts and its ssh hosts differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := sshGrant(t, SSHFromFile)
			tt.edit(&g)
			_, err := g.Normalize()
			var inv *InvalidError
			if !errors.As(err, &inv) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an InvalidError containing %q", err, tt.wantErr)
			}
		})
	}
}

// certBlob is a blob that names a certificate type.
func certBlob() string {
	name := "ssh-ed25519-cert-v01@openssh.com"
	b := append([]byte{0, 0, 0, byte(len(name))}, name...)
	return base64.StdEncoding.EncodeToString(append(b, 0, 0, 0, 1, 'x'))
}

func TestNoHostKeyRemedyNamesKeyscan(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"github.com":           "'ssh-keyscan github.com >> ~/.ssh/known_hosts'",
		"git.example.com:2222": "'ssh-keyscan -p 2222 git.example.com >> ~/.ssh/known_hosts'",
	} {
		if r := SSHHostKeyRemedy(host); !strings.Contains(r, want) || !strings.Contains(r, "--host-key '"+host+" TYPE BASE64'") {
			t.Errorf("remedy for %s: %q, want %s and --host-key", host, r, want)
		}
	}
}

func TestOnlySSHGrantsHoldAnSSHKey(t *testing.T) {
	t.Parallel()
	g := Grant{Name: "x", Kind: HTTP, Hosts: []string{"api.example.com"}, Header: "A", SSH: &SSHKey{}}
	if _, err := g.Normalize(); err == nil || !strings.Contains(err.Error(), "only an ssh grant holds an ssh key") {
		t.Fatalf("an http grant with an ssh key: %v", err)
	}
}

// TestSSHGrantStoreRoundTrip seals an ssh grant of each source and reads
// it back: the metadata, through JSON, is what Normalize made; the secret
// is the private key, or nothing for an agent-held key.
func TestSSHGrantStoreRoundTrip(t *testing.T) {
	t.Parallel()
	_, private := newSSHKey(t)
	for _, tt := range []struct {
		source SSHSource
		secret []byte
	}{{SSHFromFile, private}, {SSHFromAgent, nil}} {
		t.Run(string(tt.source), func(t *testing.T) {
			t.Parallel()
			s := newTestStore(t)
			want, err := sshGrant(t, tt.source).Normalize()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(want, NewSecret(tt.secret)); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, secret, err := s.Get("deploy")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want.CreatedAt = got.CreatedAt
			if !reflect.DeepEqual(got, want) || !bytes.Equal(secret.Reveal(), tt.secret) {
				t.Fatalf("Get = %+v %+v\nwant %+v %+v", got, got.SSH, want, want.SSH)
			}
			listed, err := s.List()
			if err != nil || len(listed) != 1 || !reflect.DeepEqual(listed[0], want) {
				t.Fatalf("List = %+v, %v", listed, err)
			}
			var asJSON map[string]any
			b, _ := json.Marshal(got)
			json.Unmarshal(b, &asJSON)
			ssh, _ := asJSON["ssh"].(map[string]any)
			if ssh["source"] != string(tt.source) || ssh["fingerprint"] != want.SSH.Fingerprint || ssh["hosts"] == nil || ssh["public_key"] == nil {
				t.Fatalf("JSON %s lacks the ssh fields", b)
			}
			assertPrivateFile(t, s.path("deploy"))
			if tt.secret != nil {
				raw, _ := os.ReadFile(s.path("deploy"))
				if bytes.Contains(raw, []byte("OPENSSH PRIVATE KEY")) {
					t.Fatal("the grant file holds the private key in plain text")
				}
			}
		})
	}
}

// TestSSHHostKeysAreSealed checks that pinned host keys are covered by the
// seal: a host key swapped in the file makes Get fail.
func TestSSHHostKeysAreSealed(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	g, _ := sshGrant(t, SSHFromAgent).Normalize()
	if err := s.Put(g, Secret{}); err != nil {
		t.Fatal(err)
	}
	evil, _ := newSSHKey(t)
	_, evilB64, _ := strings.Cut(evil, " ")
	_, goodB64, _ := strings.Cut(g.SSH.Hosts[0].Keys[0], " ")
	editFile(t, s, "deploy", func(fd *fileData) {
		fd.Grant = bytes.ReplaceAll(fd.Grant, []byte(goodB64), []byte(evilB64))
	})
	var corrupt *CorruptError
	if _, _, err := s.Get("deploy"); !errors.As(err, &corrupt) || !strings.Contains(err.Error(), "does not authenticate") {
		t.Fatalf("Get after swapping a host key: %v, want a CorruptError", err)
	}
}

func TestSSHSecretChecks(t *testing.T) {
	t.Parallel()
	_, private := newSSHKey(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	encBlock, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		source  SSHSource
		secret  []byte
		wantErr string // "" means stored
	}{
		{"file key", SSHFromFile, private, ""},
		{"file without a key", SSHFromFile, nil, "invalid ssh key: is empty"},
		{"an encrypted key", SSHFromFile, pem.EncodeToMemory(encBlock), "is encrypted"},
		{"not a key", SSHFromFile, []byte("ghp_token"), "is not a private key in OpenSSH's format"},
		{"a PEM of another kind", SSHFromFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1}}), "is not a private key"},
		{"agent key with a secret", SSHFromAgent, private, "a key held by ssh-agent has no secret to store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := newTestStore(t).Put(sshGrant(t, tt.source), NewSecret(tt.secret))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Put: %v, want %q", err, tt.wantErr)
			}
			if err != nil && bytes.Contains([]byte(err.Error()), []byte("PRIVATE KEY")) {
				t.Fatalf("the error %q quotes the key", err)
			}
		})
	}
}

// TestSSHKindIsNotTheProxys: the proxy neither intercepts for nor
// injects an ssh grant, and it overlaps no HTTPS grant on the same host.
func TestSSHKindIsNotTheProxys(t *testing.T) {
	t.Parallel()
	g, _ := sshGrant(t, SSHFromAgent).Normalize()
	if _, ok := g.RequestApplier(); ok || g.Covers("github.com") || g.Covers("github.com:22") {
		t.Fatal("the proxy would intercept an ssh grant's host")
	}
	gh, _ := Builtin(GitHub)
	if host, ok := g.Overlap(gh); ok {
		t.Fatalf("an ssh grant overlaps the github grant on %s", host)
	}
	if k, _ := LookupKind(SSH); k.Apply.Channel() != ChannelSSH {
		t.Fatalf("channel %q", k.Apply.Channel())
	}
}
