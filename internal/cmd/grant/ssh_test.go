package grant

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/sshgrant"
)

// sshTools are OpenSSH's programs, looked up before newTestEnv empties PATH.
type sshTools struct{ keygen, agent, add string }

func lookSSHTools(t *testing.T) sshTools {
	t.Helper()
	var tools sshTools
	for _, p := range []struct {
		dst  *string
		name string
	}{{&tools.keygen, "ssh-keygen"}, {&tools.agent, "ssh-agent"}, {&tools.add, "ssh-add"}} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			t.Skipf("%s is not installed (package openssh-client)", p.name)
		}
		*p.dst = path
	}
	return tools
}

// keygen makes an ed25519 key at dir/name with ssh-keygen, encrypted when
// passphrase is set, and returns its path and public key.
func (s sshTools) newKey(t *testing.T, dir, name, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	path := filepath.Join(dir, name)
	if out, err := exec.Command(s.keygen, "-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(path + ".pub")
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return path, pub
}

// startAgent starts a real ssh-agent holding the key files, and returns
// its socket.
func (s sshTools) startAgent(t *testing.T, keys ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(s.agent, "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not create its socket")
		}
	}
	for _, k := range keys {
		add := exec.Command(s.add, k)
		add.Env = []string{"SSH_AUTH_SOCK=" + sock}
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v\n%s", err, out)
		}
	}
	return sock
}

// sshHome is a home directory whose ~/.ssh/known_hosts knows github.com
// (hashed) and returns github.com's host key.
func sshHome(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	home := t.TempDir()
	tools := sshTools{keygen: mustLook(t, "ssh-keygen")}
	_, hostKey := tools.newKey(t, t.TempDir(), "host", "")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	line := knownhosts.Line([]string{knownhosts.HashHostname("github.com")}, hostKey) + "\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return home, hostKey
}

func mustLook(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return path
}

func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// Test_sshRun stores ssh grants from key files (plain and encrypted) and
// from a real ssh-agent, with host keys from a hashed known_hosts entry or
// pinned, and checks what is stored and said.
func Test_sshRun(t *testing.T) {
	tools := lookSSHTools(t)
	keys := t.TempDir()
	plain, plainPub := tools.newKey(t, keys, "plain", "")
	encrypted, encPub := tools.newKey(t, keys, "encrypted", "correct horse")
	agentKey, agentPub := tools.newKey(t, keys, "agent", "")
	sock := tools.startAgent(t, agentKey)
	pinned, _ := tools.newKey(t, keys, "pinned-host", "")
	pinnedHostKey, _ := os.ReadFile(pinned + ".pub")

	tests := []struct {
		name       string
		flags      SSHFlags
		hosts      []string
		tty        string // the passphrase typed; "" means stdin is not a terminal
		wantPub    ssh.PublicKey
		wantSource grant.SSHSource
		wantHosts  []string
		wantPins   int // host keys of the last host
	}{
		{name: "key file", flags: SSHFlags{KeyFile: plain}, hosts: []string{"GitHub.com:22"},
			wantPub: plainPub, wantSource: grant.SSHFromFile, wantHosts: []string{"github.com"}, wantPins: 1},
		{name: "encrypted key, passphrase on the terminal", flags: SSHFlags{KeyFile: encrypted}, hosts: []string{"github.com"}, tty: "correct horse",
			wantPub: encPub, wantSource: grant.SSHFromFile, wantHosts: []string{"github.com"}, wantPins: 1},
		{name: "agent key", flags: SSHFlags{AgentKey: ssh.FingerprintSHA256(agentPub)}, hosts: []string{"github.com"},
			wantPub: agentPub, wantSource: grant.SSHFromAgent, wantHosts: []string{"github.com"}, wantPins: 1},
		{name: "a pinned host key for a host known_hosts lacks",
			flags: SSHFlags{KeyFile: plain, HostKeys: []string{"[git.example.com]:2222 " + strings.TrimSpace(string(pinnedHostKey))}},
			hosts: []string{"github.com", "git.example.com:2222"}, wantPub: plainPub, wantSource: grant.SSHFromFile,
			wantHosts: []string{"github.com", "git.example.com:2222"}, wantPins: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, _ := sshHome(t)
			e := newTestEnv(t, map[string]string{"HOME": home, "SSH_AUTH_SOCK": sock})
			e.opts.Grant = grant.Grant{Name: "deploy", Kind: grant.SSH, Hosts: tt.hosts}
			e.opts.SSH = tt.flags
			asked := 0
			if tt.tty != "" {
				e.opts.IO.SetTTY(true, false, false)
				e.opts.Prompt = func(context.Context, int) ([]byte, error) { asked++; return []byte(tt.tty), nil }
			}
			if err := sshRun(context.Background(), e.opts); err != nil {
				t.Fatal(err)
			}
			if tt.tty != "" && asked != 1 {
				t.Fatalf("the passphrase was asked for %d times, want once", asked)
			}
			g, secret, err := e.store.Get("deploy")
			if err != nil {
				t.Fatal(err)
			}
			fp := ssh.FingerprintSHA256(tt.wantPub)
			if g.Kind != grant.SSH || g.SSH.Source != tt.wantSource || g.SSH.Fingerprint != fp || g.SSH.PublicKey != authorizedKey(tt.wantPub) ||
				strings.Join(g.Hosts, " ") != strings.Join(tt.wantHosts, " ") || len(g.SSH.Hosts[len(g.SSH.Hosts)-1].Keys) != tt.wantPins {
				t.Fatalf("stored %+v %+v", g, g.SSH)
			}
			switch tt.wantSource {
			case grant.SSHFromAgent:
				if !secret.IsZero() {
					t.Fatal("an agent-held key's grant holds a secret")
				}
			default: // the key, decrypted
				signer, err := ssh.ParsePrivateKey(secret.Reveal())
				if err != nil || signer.PublicKey().Type() != tt.wantPub.Type() || ssh.FingerprintSHA256(signer.PublicKey()) != fp {
					t.Fatalf("the stored key does not parse without a passphrase as the granted key: %v", err)
				}
			}
			stderr := e.errOut.String()
			for _, want := range []string{"Granted deploy: SSH key " + fp, "Pinned host keys of github.com: SHA256:",
				"Use it in a run with 'grants: [deploy]' in agent.yaml (and ssh in its dependencies), or --grant deploy\n"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if e.out.Len() != 0 {
				t.Fatalf("stdout %q, want nothing", e.out)
			}
		})
	}
}

func Test_sshRunErrors(t *testing.T) {
	tools := lookSSHTools(t)
	keys := t.TempDir()
	plain, _ := tools.newKey(t, keys, "plain", "")
	encrypted, _ := tools.newKey(t, keys, "encrypted", "correct horse")
	agentKey, agentPub := tools.newKey(t, keys, "agent", "")
	oneKeyAgent := tools.startAgent(t, agentKey)
	emptyAgent := tools.startAgent(t)

	tests := []struct {
		name     string
		flags    SSHFlags
		hosts    []string
		sock     string
		tty      bool // stdin is a terminal; the prompt must still not be reached
		wantErr  string
		wantHint string
	}{
		{name: "no key, the agent holds one: listed, not chosen", hosts: []string{"github.com"}, sock: oneKeyAgent,
			wantErr:  "no key given: pass --key FILE, or --agent-key FINGERPRINT",
			wantHint: "Your ssh-agent holds:\n  " + ssh.FingerprintSHA256(agentPub) + " agent (ED25519)\nChoose one, as in --agent-key " + ssh.FingerprintSHA256(agentPub)},
		{name: "no key, an empty agent", hosts: []string{"github.com"}, sock: emptyAgent,
			wantErr: "no key given", wantHint: "Your ssh-agent holds no key."},
		{name: "no key, no agent", hosts: []string{"github.com"}, wantErr: "no key given", wantHint: "No ssh-agent is reachable"},
		{name: "agent key the agent lacks", flags: SSHFlags{AgentKey: "SHA256:nope"}, hosts: []string{"github.com"}, sock: oneKeyAgent,
			wantErr: "ssh-agent holds no key SHA256:nope (it holds 1)"},
		{name: "agent key without an agent", flags: SSHFlags{AgentKey: ssh.FingerprintSHA256(agentPub)}, hosts: []string{"github.com"},
			wantErr: "using your ssh-agent: SSH_AUTH_SOCK is not set"},
		{name: "encrypted key, no terminal", flags: SSHFlags{KeyFile: encrypted}, hosts: []string{"github.com"},
			wantErr: "is encrypted, and there is no terminal to ask for its passphrase", wantHint: sshgrant.EncryptedKeyRemedy},
		{name: "a public key for the key", flags: SSHFlags{KeyFile: plain + ".pub"}, hosts: []string{"github.com"},
			wantErr: "is a public key; moat needs the private key", wantHint: "the same name without .pub"},
		{name: "a host with no known key, before any passphrase", flags: SSHFlags{KeyFile: encrypted}, hosts: []string{"github.com", "gitlab.com"}, tty: true,
			wantErr: "no host key known for gitlab.com", wantHint: "'ssh-keyscan gitlab.com >> ~/.ssh/known_hosts'"},
		{name: "a host key for a host not granted", flags: SSHFlags{KeyFile: plain, HostKeys: []string{"gitlab.com " + authorizedKey(agentPub)}},
			hosts: []string{"github.com"}, wantErr: `invalid host key "gitlab.com": is for a host the grant does not name`},
		{name: "a known_hosts file that is not there", flags: SSHFlags{KeyFile: plain, KnownHosts: filepath.Join(keys, "nope")},
			hosts: []string{"github.com"}, wantErr: "reading known hosts"},
		{name: "a wildcard host", flags: SSHFlags{KeyFile: plain}, hosts: []string{"*.github.com"}, wantErr: "no wildcards"},
		{name: "a built-in grant's name", flags: SSHFlags{KeyFile: plain}, hosts: []string{"github.com"}, wantErr: `invalid grant name "github": is reserved`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, _ := sshHome(t)
			e := newTestEnv(t, map[string]string{"HOME": home, "SSH_AUTH_SOCK": tt.sock})
			name := "deploy"
			if strings.Contains(tt.name, "built-in") {
				name = "github"
			}
			e.opts.Grant = grant.Grant{Name: name, Kind: grant.SSH, Hosts: tt.hosts}
			e.opts.SSH = tt.flags
			if tt.tty {
				e.opts.IO.SetTTY(true, false, false) // the prompt fails the test (newTestEnv)
			}
			err := sshRun(context.Background(), e.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			var h interface{ Hint() string }
			if tt.wantHint != "" && (!errors.As(err, &h) || !strings.Contains(h.Hint(), tt.wantHint)) {
				t.Fatalf("hint %q, want %q", cmdutil.HintOf(err), tt.wantHint)
			}
			if list, _ := e.store.List(); len(list) != 0 {
				t.Fatalf("stored %v after an error", list)
			}
		})
	}
}
