package sshagent

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshKeygen makes a key file with the real ssh-keygen.
func sshKeygen(t *testing.T, path, passphrase string) ssh.PublicKey {
	t.Helper()
	out, err := exec.Command(needOpenSSH(t, "ssh-keygen"), "-q", "-t", "ed25519", "-N", passphrase, "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestLoadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain, encrypted := filepath.Join(dir, "plain"), filepath.Join(dir, "encrypted")
	plainPub, encryptedPub := sshKeygen(t, plain, ""), sshKeygen(t, encrypted, "open sesame")
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pass := func(p string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(p), nil } }
	tests := []struct {
		name       string
		path       string
		passphrase func() ([]byte, error)
		want       ssh.PublicKey
		wantErr    []string // all in the error
	}{
		{name: "plain key", path: plain, want: plainPub},
		{name: "encrypted key", path: encrypted, passphrase: pass("open sesame"), want: encryptedPub},
		{name: "wrong passphrase", path: encrypted, passphrase: pass("guess"), wantErr: []string{encrypted, "ssh-keygen -y -f"}},
		{name: "no way to ask", path: encrypted, wantErr: []string{encrypted, "encrypted", "ssh-agent"}},
		{name: "asking fails", path: encrypted, passphrase: func() ([]byte, error) { return nil, errors.New("no terminal") },
			wantErr: []string{encrypted, "no terminal"}},
		{name: "public key given", path: plain + ".pub", wantErr: []string{plain + ".pub", "public key", "without .pub"}},
		{name: "not a key", path: garbage, wantErr: []string{garbage, "ssh-keygen -t ed25519"}},
		{name: "missing file", path: filepath.Join(dir, "missing"), wantErr: []string{filepath.Join(dir, "missing")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signer, err := LoadKeyFile(tc.path, tc.passphrase)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(signer.PublicKey().Marshal(), tc.want.Marshal()) {
					t.Fatalf("loaded %s, want %s", ssh.FingerprintSHA256(signer.PublicKey()), ssh.FingerprintSHA256(tc.want))
				}
				return
			}
			if err == nil {
				t.Fatal("loaded a key, want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestKnownHostKeys reads keys the way a grant will: from the user's
// known_hosts, hashed by the real ssh-keygen, with the lines that must not
// count (revoked keys, certificate authorities) and other hosts' lines.
func TestKnownHostKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	github1, github2, revoked, ca, other := newSigner(t), newSigner(t), newSigner(t), newSigner(t), newSigner(t)
	lines := strings.Join([]string{
		"# the user's file",
		knownhosts.Line([]string{"github.com"}, github1.PublicKey()),
		knownhosts.Line([]string{"github.com"}, github2.PublicKey()),
		knownhosts.Line([]string{"github.com"}, revoked.PublicKey()),
		"@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(revoked.PublicKey()))),
		"@cert-authority github.com " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))),
		knownhosts.Line([]string{"git.example:2222"}, other.PublicKey()),
		"",
	}, "\n")
	path := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(needOpenSSH(t, "ssh-keygen"), "-H", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v\n%s", err, out)
	}
	if hashed, _ := os.ReadFile(path); bytes.Contains(hashed, []byte("\ngithub.com ")) {
		t.Fatalf("ssh-keygen -H left a host line unhashed:\n%s", hashed)
	}
	fps := func(keys []ssh.PublicKey) []string {
		var out []string
		for _, k := range keys {
			out = append(out, ssh.FingerprintSHA256(k))
		}
		return out
	}
	tests := []struct {
		host string
		want []ssh.PublicKey
	}{
		{"github.com", []ssh.PublicKey{github1.PublicKey(), github2.PublicKey()}},
		{"github.com:22", []ssh.PublicKey{github1.PublicKey(), github2.PublicKey()}},
		{"git.example:2222", []ssh.PublicKey{other.PublicKey()}},
	}
	for _, tc := range tests {
		got, err := KnownHostKeys(path, tc.host)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		if g, w := fps(got), fps(tc.want); strings.Join(g, " ") != strings.Join(w, " ") {
			t.Errorf("%s: got %q, want %q", tc.host, g, w)
		}
	}
	_, err := KnownHostKeys(path, "git.example")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "pin the key") {
		t.Errorf("unknown host: got %v, want an error naming the file and the fix", err)
	}
}

func TestKnownHostKeysBadLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "known_hosts")
	good := knownhosts.Line([]string{"github.com"}, newSigner(t).PublicKey())
	if err := os.WriteFile(path, []byte(good+"\n\ngithub.com ssh-ed25519 AAAA-not-base64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := KnownHostKeys(path, "github.com")
	if err == nil || !strings.Contains(err.Error(), path+":3:") || !strings.Contains(err.Error(), "ssh-keygen -R") {
		t.Fatalf("got %v, want an error naming %s:3 and the fix", err, path)
	}
}

func TestParseHostKey(t *testing.T) {
	t.Parallel()
	key := newSigner(t).PublicKey()
	got, err := ParseHostKey(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))))
	if err != nil || !bytes.Equal(got.Marshal(), key.Marshal()) {
		t.Fatalf("got %v, %v; want the key back", got, err)
	}
	if _, err := ParseHostKey("github.com ssh-ed25519"); err == nil || !strings.Contains(err.Error(), "TYPE BASE64") {
		t.Fatalf("got %v, want an error saying the form", err)
	}
}

func TestFindAgentKeyMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	presentPub := sshKeygen(t, present, "")
	upstream, _ := startSSHAgent(t, dir, present)
	for _, fp := range []string{ssh.FingerprintSHA256(presentPub), strings.TrimPrefix(ssh.FingerprintSHA256(presentPub), "SHA256:")} {
		b, err := FindAgentKey(upstream, fp)
		if err != nil || !bytes.Equal(b.PublicKey().Marshal(), presentPub.Marshal()) {
			t.Fatalf("%s: got %v, %v; want the key", fp, b.Key, err)
		}
	}
	missing := ssh.FingerprintSHA256(newSigner(t).PublicKey())
	_, err := FindAgentKey(upstream, missing)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "ssh-add -l") {
		t.Fatalf("got %v, want an error naming the fingerprint and 'ssh-add -l'", err)
	}
}
