//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// The SSH fixtures: real OpenSSH servers (Debian's openssh-server), each in
// a container of its own publishing port 22 on a random port of the host's
// loopback, serving one bare repository through git-shell to the user git;
// ed25519 test keys made by ssh-keygen; and an ssh-agent on the host.

// sshdFiles is the build context of the SSH server image. The server's host
// key is made when its container starts, so that no two servers share one
// (the tests tell servers apart by their host keys), and it is the only one
// the server offers: the pin read back from the container is what every
// client sees.
var sshdFiles = map[string]string{
	"Dockerfile": `FROM ` + baseImage + `
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-server git \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
RUN useradd --create-home --shell /usr/bin/git-shell git \
 && usermod -p '*' git \
 && install -d -o git -g git -m 700 /home/git/.ssh \
 && w=$(mktemp -d) && git init -q -b main "$w" \
 && echo cloned-over-ssh > "$w/README" \
 && git -C "$w" add README \
 && git -C "$w" -c user.name=e2e -c user.email=e2e@test commit -q -m init \
 && git clone -q --bare "$w" /home/git/repo.git \
 && rm -rf "$w" && chown -R git:git /home/git/repo.git
COPY e2e.conf /etc/ssh/sshd_config.d/e2e.conf
COPY start.sh /start.sh
LABEL moat-test=sshd
EXPOSE 22
ENTRYPOINT ["/bin/sh", "/start.sh"]
`,
	// Debian's sshd_config includes sshd_config.d first: these win.
	"e2e.conf": `HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers git
LogLevel VERBOSE
`,
	"start.sh": `set -e
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
printf '%s\n' "$AUTHORIZED_KEYS" > /home/git/.ssh/authorized_keys
chown git:git /home/git/.ssh/authorized_keys
chmod 600 /home/git/.ssh/authorized_keys
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
`,
}

var sshdImageOnce = sync.OnceValues(makeSSHDImage)

// sshdImage returns the tag of the SSH server image, built once per test
// process and kept, like the client base image: its tag is a digest of
// its build context, so a changed recipe makes a new one.
func sshdImage(t *testing.T) string {
	t.Helper()
	tag, err := sshdImageOnce()
	if err != nil {
		t.Fatalf("making the SSH server image: %v", err)
	}
	return tag
}

func makeSSHDImage() (string, error) {
	h := sha256.New()
	for _, name := range []string{"Dockerfile", "e2e.conf", "start.sh"} {
		fmt.Fprintf(h, "%s\x00%s\x00", name, sshdFiles[name])
	}
	tag := "moat-test/sshd:" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := imageID(tag); err == nil {
		return tag, nil
	}
	dir, err := os.MkdirTemp("", "moat-e2e-sshd-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	for name, content := range sshdFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// The classic builder takes FROM from the engine's images; BuildKit
	// would try to pull it from a registry, which is not reachable.
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build: %v\n%s", err, tail(string(out), 30))
	}
	return tag, nil
}

// sshServer is one SSH server container.
type sshServer struct {
	id      string // the container's
	port    string // published on 127.0.0.1
	hostKey string // "ssh-ed25519 BASE64"
}

// newSSHServer starts an SSH server that lets in the user git with any of
// authorizedKeys (public key lines), and removes it when the test ends.
func newSSHServer(t *testing.T, authorizedKeys ...string) *sshServer {
	t.Helper()
	id, err := docker(t, "run", "-d", "--label", "moat.e2e="+uniqueName(t), "-p", "127.0.0.1::22",
		"-e", "AUTHORIZED_KEYS="+strings.Join(authorizedKeys, "\n"), sshdImage(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := docker(t, "rm", "-f", id); err != nil {
			t.Errorf("removing the SSH server: %v", err)
		}
	})
	s := &sshServer{id: id}
	addr, err := docker(t, "port", id, "22/tcp")
	if err != nil {
		t.Fatal(err)
	}
	// One line per address family; the first is 127.0.0.1's.
	first, _, _ := strings.Cut(addr, "\n")
	if _, s.port, err = net.SplitHostPort(first); err != nil {
		t.Fatalf("the SSH server's published port %q: %v", addr, err)
	}
	waitForDetail(t, 30*time.Second, "the SSH server's banner", func() bool { return sshBanner(s.port) == nil },
		func() string {
			out, _ := docker(t, "logs", id)
			return fmt.Sprintf("last error: %v; server log:\n%s", sshBanner(s.port), out)
		})
	pub, err := docker(t, "exec", id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(pub); len(f) >= 2 {
		s.hostKey = f[0] + " " + f[1]
	} else {
		t.Fatalf("the SSH server's host key reads %q", pub)
	}
	return s
}

// sshBanner reads the server's identification line on port: docker's proxy
// accepts connections before sshd listens, so a connection alone proves
// nothing.
func sshBanner(port string) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("the server sent %q, not an SSH banner", line)
	}
	return nil
}

// pin is the server's host key as known_hosts and 'moat grant ssh
// --host-key' take it, for the name host on the server's port.
func (s *sshServer) pin(host string) string {
	return fmt.Sprintf("[%s]:%s %s", host, s.port, s.hostKey)
}

// hostPort is host with the server's port, as --host takes it.
func (s *sshServer) hostPort(host string) string { return host + ":" + s.port }

// refs returns the repository's refs, name -> commit, read in the container.
func (s *sshServer) refs(t *testing.T) map[string]string {
	t.Helper()
	out, err := docker(t, "exec", "-u", "git", s.id, "git", "-C", "/home/git/repo.git", "for-each-ref", "--format=%(refname) %(objectname)")
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, commit, ok := strings.Cut(line, " "); ok {
			refs[name] = commit
		}
	}
	return refs
}

// sshKey is an ed25519 key pair made by ssh-keygen, without a passphrase.
type sshKey struct {
	path        string // the private key file; its public key is path.pub
	pub         string // the public key line: "ssh-ed25519 BASE64 COMMENT"
	fingerprint string // "SHA256:..."
}

// newSSHKey makes a key pair in a directory of the test's.
func newSSHKey(t *testing.T) sshKey {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", uniqueName(t), "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", path+".pub").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 2 || !strings.HasPrefix(f[1], "SHA256:") {
		t.Fatalf("ssh-keygen -l of %s: %q, %v", path, out, err)
	}
	return sshKey{path: path, pub: strings.TrimSpace(string(pub)), fingerprint: f[1]}
}

// blob is the public key without its comment, "ssh-ed25519 BASE64", as an
// agent may list it under another comment.
func (k sshKey) blob() string {
	f := strings.Fields(k.pub)
	return f[0] + " " + f[1]
}

// secrets are the forms in which the private key could leak: the whole
// file, each base64 line of its body but the first (the same in every
// unencrypted ed25519 key: the format's header and key type), and the raw
// 32-byte seed.
func (k sshKey) secrets(t *testing.T) []string {
	t.Helper()
	pem, err := os.ReadFile(k.path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	priv, ok := raw.(*ed25519.PrivateKey)
	if !ok {
		t.Fatalf("%s holds a %T, not an ed25519 key", k.path, raw)
	}
	out := []string{string(pem), string(priv.Seed())}
	lines := strings.Split(strings.TrimSpace(string(pem)), "\n")
	// lines[0] and the last are the BEGIN and END lines.
	for _, l := range lines[2 : len(lines)-1] {
		out = append(out, l)
	}
	return out
}

// hostAgent is an ssh-agent on the host, started and killed by the test.
type hostAgent struct{ sock string }

// newHostAgent starts ssh-agent listening on a socket in a directory of
// the test's.
func newHostAgent(t *testing.T) *hostAgent {
	t.Helper()
	a := &hostAgent{sock: filepath.Join(t.TempDir(), "agent.sock")}
	cmd := exec.Command("ssh-agent", "-a", a.sock, "-D")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting ssh-agent: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	waitFor(t, 10*time.Second, "ssh-agent's socket", func() bool { return exists(a.sock) })
	return a
}

// add adds k to the agent.
func (a *hostAgent) add(t *testing.T, k sshKey) {
	t.Helper()
	cmd := exec.Command("ssh-add", k.path)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+a.sock)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add %s: %v\n%s", k.path, err, out)
	}
}

// TestSSHFixtures checks the fixtures from the host with OpenSSH's own
// client: both servers serve their repository to both keys, under the host
// key pinned for them and no other, a push lands where refs sees it, and a
// key held by the host's ssh-agent is used from there.
func TestSSHFixtures(t *testing.T) {
	t.Parallel()
	keyA, keyB := newSSHKey(t), newSSHKey(t)
	servers := []*sshServer{newSSHServer(t, keyA.pub, keyB.pub), newSSHServer(t, keyA.pub, keyB.pub)}
	if servers[0].hostKey == servers[1].hostKey {
		t.Fatalf("both servers have the host key %s", servers[0].hostKey)
	}
	dir := t.TempDir()
	for i, s := range servers {
		for j, k := range []sshKey{keyA, keyB} {
			clone := filepath.Join(dir, fmt.Sprintf("clone-%d-%d", i, j))
			out, err := hostGit(t, s, s.pin("127.0.0.1"), "-i "+k.path, nil, "clone", "-q", "git@127.0.0.1:repo.git", clone)
			if err != nil {
				t.Fatalf("cloning from server %d with %s: %v\n%s", i, k.path, err, out)
			}
			mustContain(t, "the clone's README", readFile(t, clone, "README"), "cloned-over-ssh")
		}
	}

	// Another server's host key under this one's name is refused.
	s := servers[0]
	out, err := hostGit(t, s, servers[1].pin("127.0.0.1"), "-i "+keyA.path, nil, "ls-remote", "git@127.0.0.1:repo.git")
	if err == nil {
		t.Errorf("ssh took a host key pinned for another server:\n%s", out)
	}
	mustContain(t, "ssh's refusal of a wrong host key", out, "Host key verification failed")

	clone := filepath.Join(dir, "clone-0-0") // server 0's, with key A
	for _, args := range [][]string{
		{"-C", clone, "-c", "user.name=e2e", "-c", "user.email=e2e@test", "commit", "-q", "--allow-empty", "-m", "pushed"},
		{"-C", clone, "push", "-q", "origin", "HEAD:refs/heads/pushed"},
	} {
		if out, err := hostGit(t, s, s.pin("127.0.0.1"), "-i "+keyA.path, nil, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	head, _ := exec.Command("git", "-C", clone, "rev-parse", "HEAD").Output()
	if got, want := s.refs(t)["refs/heads/pushed"], strings.TrimSpace(string(head)); got != want {
		t.Errorf("the server's refs/heads/pushed is %q, want the pushed commit %s", got, want)
	}

	// The agent: -i names a public key only, so the key must come from it.
	a := newHostAgent(t)
	a.add(t, keyB)
	pubOnly := filepath.Join(t.TempDir(), "b.pub")
	if err := os.WriteFile(pubOnly, []byte(keyB.pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := hostGit(t, s, s.pin("127.0.0.1"), "-i "+pubOnly, []string{"SSH_AUTH_SOCK=" + a.sock},
		"clone", "-q", "git@127.0.0.1:repo.git", filepath.Join(dir, "clone-agent")); err != nil {
		t.Fatalf("cloning with the agent's key: %v\n%s", err, out)
	}
}

// hostGit runs git on the host against s with ssh trusting only the
// known_hosts line pin and using identity (ssh options), with env added.
func hostGit(t *testing.T, s *sshServer, pin, identity string, env []string, args ...string) (string, error) {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(pin+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes "+identity+
		" -o UserKnownHostsFile="+kh+" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -p "+s.port)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
