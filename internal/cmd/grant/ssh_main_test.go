package grant_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/moatsh/moat/internal/cmd/root"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
)

// TestSSHGrantThroughMain stores an ssh grant from a key file through
// Main, lists it (table and JSON), revokes it, and checks that no byte of
// the private key is in any output or, unsealed, in any file. It sets
// HOME and SSH_AUTH_SOCK, so it does not run in parallel.
func TestSSHGrantThroughMain(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen is not installed (package openssh-client)")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	keyPath := filepath.Join(home, "id_ed25519")
	hostKeyPath := filepath.Join(home, "host")
	for _, p := range []string{keyPath, hostKeyPath} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pubText, _ := os.ReadFile(keyPath + ".pub")
	pub, _, _, _, _ := ssh.ParseAuthorizedKey(pubText)
	fp := ssh.FingerprintSHA256(pub)
	hostText, _ := os.ReadFile(hostKeyPath + ".pub")
	hostKey, _, _, _, _ := ssh.ParseAuthorizedKey(hostText)
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(knownhosts.Line([]string{"github.com"}, hostKey)+"\n"), 0o600)
	pemText, _ := os.ReadFile(keyPath)
	raw, err := ssh.ParseRawPrivateKey(pemText)
	if err != nil {
		t.Fatal(err)
	}
	privateBytes := raw.(*ed25519.PrivateKey).Seed()

	store := grant.NewStore(filepath.Join(home, "moat", "grants"), grant.FileKey(filepath.Join(home, "moat", "keys", "grants.key")))
	steps := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{args: []string{"grant", "ssh", "deploy", "--host", "github.com", "--key", keyPath},
			wantOut: "Granted deploy: SSH key " + fp + " (sealed in the grant) for github.com\n"},
		{args: []string{"grant", "list"}, wantOut: "deploy\tssh\tgithub.com\t-\t"},
		{args: []string{"grant", "list"}, wantOut: "\t" + fp + " (file)\n"},
		{args: []string{"grant", "list", "--json"}, wantOut: `"fingerprint": "` + fp + `"`},
		{args: []string{"grant", "ssh", "deploy", "--host", "github.com", "--key", keyPath + ".pub"}, wantCode: 1,
			wantOut: "is a public key; moat needs the private key to sign with\n\nGive the private key file"},
		{args: []string{"grant", "ssh", "deploy", "--host", "github.com", "--key", keyPath, "--agent-key", fp}, wantCode: 2,
			wantOut: "--key and --agent-key cannot be used together"},
		{args: []string{"revoke", "deploy"}, wantOut: "Revoked grant deploy\n"},
		{args: []string{"grant", "list", "--json"}, wantOut: "[]\n"},
	}
	for _, s := range steps {
		t.Run(strings.Join(s.args, " "), func(t *testing.T) {
			ios, _, out, errOut := iostreams.Test()
			f := &cmdutil.Factory{IOStreams: ios, Version: "test", Grants: func() (*grant.Store, error) { return store, nil }}
			code := root.Main(f, s.args)
			all := out.String() + errOut.String()
			if code != s.wantCode || !strings.Contains(all, s.wantOut) {
				t.Fatalf("exit %d, output\n%s\nwant exit %d and %q", code, all, s.wantCode, s.wantOut)
			}
			if strings.Contains(all, "PRIVATE KEY") {
				t.Fatalf("the output shows a private key:\n%s", all)
			}
			if strings.Contains(s.args[1], "list") && strings.Contains(s.args[len(s.args)-1], "json") && out.String() != "[]\n" {
				var listed []map[string]any
				if err := json.Unmarshal(out.Bytes(), &listed); err != nil || len(listed) != 1 {
					t.Fatalf("--json %s: %v", out, err)
				}
				sshMeta, _ := listed[0]["ssh"].(map[string]any)
				if listed[0]["kind"] != "ssh" || sshMeta["source"] != "file" || sshMeta["public_key"] != strings.Join(strings.Fields(string(pubText))[:2], " ") {
					t.Fatalf("--json %s lacks the ssh grant's kind, source or public key", out)
				}
			}
		})
	}
	filepath.WalkDir(filepath.Join(home, "moat"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, privateBytes) || bytes.Contains(b, []byte("PRIVATE KEY")) {
				t.Errorf("%s holds the private key unsealed", path)
			}
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(home, "moat", "grants", "deploy.grant")); !os.IsNotExist(err) {
		t.Fatalf("the revoked grant's file is still there: %v", err)
	}
}
