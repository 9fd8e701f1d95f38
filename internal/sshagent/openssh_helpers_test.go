package sshagent

import (
	"bufio"
	"bytes"
	"crypto"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// needOpenSSH returns the path of an OpenSSH program; the testbed
// installs them (openssh-server brings sshd).
func needOpenSSH(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; name == "sshd" && fileExists(p) {
		return p
	}
	t.Fatalf("%s is not installed: run 'make testbed' (it installs openssh-server)", name)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// writeKey writes a private key in OpenSSH's format, mode 0600 as ssh and
// ssh-add require.
func writeKey(t testing.TB, path string, priv crypto.PrivateKey) {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sshServer is a real sshd on a loopback port.
type sshServer struct {
	port    int
	hostKey ssh.PublicKey
	log     *syncBuffer
}

// addr is the server as a grant names it.
func (s *sshServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// startSSHD starts sshd in the foreground with a configuration of its own:
// a fresh host key, and an authorized_keys file with the given keys for
// whichever user logs in.
func startSSHD(t testing.TB, dir string, authorized ...ssh.PublicKey) *sshServer {
	t.Helper()
	sshd := needOpenSSH(t, "sshd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hostSigner, hostPriv := newSignerAndKey(t)
	writeKey(t, filepath.Join(dir, "host_key"), hostPriv)
	var auth bytes.Buffer
	for _, k := range authorized {
		auth.Write(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), auth.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd running as root wants its privilege separation directory,
		// which the Debian service makes at boot.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A free port can be taken between Listen and sshd's bind: retry then.
	for attempt := 0; attempt < 3; attempt++ {
		srv, busy := tryStartSSHD(t, sshd, dir, freePort(t))
		if srv != nil {
			srv.hostKey = hostSigner.PublicKey()
			return srv
		}
		if !busy {
			break
		}
	}
	t.Fatal("sshd did not start")
	return nil
}

func tryStartSSHD(t testing.TB, sshd, dir string, port int) (srv *sshServer, portBusy bool) {
	t.Helper()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %[2]s/host_key
AuthorizedKeysFile %[2]s/authorized_keys
PidFile none
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel VERBOSE
`, port, dir)
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	listening := make(chan bool, 1)
	go func() {
		// sshd logs "Server listening on ..." once it accepts; the rest of
		// its log stays for failure messages.
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !said && strings.HasPrefix(sc.Text(), "Server listening on") {
				said = true
				listening <- true
			}
		}
		if !said {
			listening <- false
		}
	}()
	if !<-listening {
		_ = cmd.Wait()
		if strings.Contains(log.String(), "Address already in use") {
			return nil, true
		}
		t.Fatalf("sshd exited before listening:\n%s", log)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &sshServer{port: port, log: log}, false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer for a writer and readers on other
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeHashedKnownHosts writes a known_hosts file for the servers and
// hashes it with ssh-keygen -H, as HashKnownHosts does.
func writeHashedKnownHosts(t testing.TB, path string, servers ...*sshServer) {
	t.Helper()
	var lines strings.Builder
	for _, s := range servers {
		lines.WriteString(knownhosts.Line([]string{s.addr()}, s.hostKey) + "\n")
	}
	if err := os.WriteFile(path, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(needOpenSSH(t, "ssh-keygen"), "-H", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v\n%s", err, out)
	}
	os.Remove(path + ".old")
}

// serveAgent serves srv on a unix socket in dir and returns its path;
// cleanup closes the server and checks Serve returned ErrServerClosed.
func serveAgent(t testing.TB, srv *Server, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return sock
}

// runSSH runs the real ssh client against a server with the agent at sock
// as its only source of keys, checking host keys against knownHosts.
func runSSH(t testing.TB, sock, knownHosts string, s *sshServer) (string, error) {
	t.Helper()
	cmd := exec.Command(needOpenSSH(t, "ssh"), "-F", "/dev/null",
		"-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=no", "-o", "BatchMode=yes",
		"-o", "IdentityFile="+filepath.Join(filepath.Dir(knownHosts), "no-such-key"),
		"-p", strconv.Itoa(s.port), "127.0.0.1", "true")
	cmd.Env = append(envWithout("SSH_AUTH_SOCK"), "SSH_AUTH_SOCK="+sock)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func envWithout(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// sshAddList runs ssh-add -l against the agent at sock and returns the
// fingerprints it lists.
func sshAddList(t testing.TB, sock string) []string {
	t.Helper()
	cmd := exec.Command(needOpenSSH(t, "ssh-add"), "-l")
	cmd.Env = append(envWithout("SSH_AUTH_SOCK"), "SSH_AUTH_SOCK="+sock)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-add -l: %v\n%s", err, out)
	}
	var fps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			fps = append(fps, f[1])
		}
	}
	return fps
}

// startSSHAgent starts the user's kind of ssh-agent on a socket in dir,
// loads the key files into it and returns a client of it.
func startSSHAgent(t testing.TB, dir string, keyFiles ...string) (agent.ExtendedAgent, string) {
	t.Helper()
	sock := filepath.Join(dir, "upstream.sock")
	cmd := exec.Command(needOpenSSH(t, "ssh-agent"), "-D", "-a", sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// ssh-agent prints its environment once the socket listens.
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	for _, f := range keyFiles {
		add := exec.Command(needOpenSSH(t, "ssh-add"), f)
		add.Env = append(envWithout("SSH_AUTH_SOCK"), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v\n%s", f, err, out)
		}
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return agent.NewClient(conn), sock
}
