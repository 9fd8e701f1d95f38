package sshwatch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// needOpenSSH returns the path of an OpenSSH program; the testbed
// installs them (openssh-server brings sshd).
func needOpenSSH(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; name == "sshd" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: run 'make testbed' (it installs openssh-server)", name)
	return ""
}

// sshServer is a real sshd on a loopback port, with a host key of each
// type and the client key in its authorized_keys.
type sshServer struct {
	addr      string
	hostKeys  map[string]ssh.PublicKey // by key type, from the .pub files
	clientKey string                   // the private key file to log in with
	log       *syncBuffer
}

// hostKeyTypes are ssh-keygen's -t for the host keys sshd gets.
var hostKeyTypes = []string{"ed25519", "ecdsa", "rsa"}

// startSSHD starts sshd in the foreground with a configuration of its own
// in dir, as internal/sshagent's tests do.
func startSSHD(t *testing.T, dir string) *sshServer {
	t.Helper()
	sshd := needOpenSSH(t, "sshd")
	s := &sshServer{hostKeys: map[string]ssh.PublicKey{}, clientKey: filepath.Join(dir, "client_key")}
	var hostKeyLines strings.Builder
	for _, typ := range hostKeyTypes {
		file := filepath.Join(dir, "host_key_"+typ)
		key := keygen(t, typ, file)
		s.hostKeys[key.Type()] = key
		fmt.Fprintf(&hostKeyLines, "HostKey %s\n", file)
	}
	clientPub := keygen(t, "ed25519", s.clientKey)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
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
	for range 3 {
		if s.tryStart(t, sshd, dir, hostKeyLines.String()) {
			return s
		}
	}
	t.Fatal("sshd did not start: its port was taken three times")
	return nil
}

// keyBits is ssh-keygen's -b per key type: RSA's smallest that OpenSSH
// accepts, to keep the tests fast.
var keyBits = map[string]string{"ed25519": "256", "ecdsa": "256", "rsa": "2048"}

// keygen makes a key pair with ssh-keygen and returns the public key as
// the .pub file holds it.
func keygen(t *testing.T, typ, file string) ssh.PublicKey {
	t.Helper()
	if out, err := exec.Command(needOpenSSH(t, "ssh-keygen"), "-q", "-t", typ, "-b", keyBits[typ], "-N", "", "-C", "", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -t %s: %v\n%s", typ, err, out)
	}
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// tryStart starts sshd on a free port; false means the port was taken.
func (s *sshServer) tryStart(t *testing.T, sshd, dir, hostKeyLines string) bool {
	t.Helper()
	s.addr = freeAddr(t)
	_, port, _ := net.SplitHostPort(s.addr)
	cfg := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
%sAuthorizedKeysFile %s/authorized_keys
PidFile none
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel VERBOSE
`, port, hostKeyLines, dir)
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
	s.log = &syncBuffer{}
	listening := make(chan bool, 1)
	go func() {
		// sshd logs "Server listening on ..." once it accepts; the rest of
		// its log stays for failure messages.
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			s.log.WriteString(sc.Text() + "\n")
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
		if strings.Contains(s.log.String(), "Address already in use") {
			return false
		}
		t.Fatalf("sshd exited before listening:\n%s", s.log)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return true
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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

// A forwarder is a tiny CONNECT tunnel without the HTTP: every connection
// it accepts is relayed to upstream, whose side Registry.Watch watches,
// as the proxy's relay would.
type forwarder struct {
	addr    string
	reg     *Registry
	results chan result
	tunnels sync.WaitGroup
	close   func() // stops accepting and waits for the tunnels to end
}

// result is one OnResult call, and what Confirm said for the key then.
type result struct {
	addr      string
	key       ssh.PublicKey
	err       error
	confirmed error
}

func newForwarder(t *testing.T, upstream string) *forwarder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{addr: l.Addr().String(), results: make(chan result, 16)}
	f.reg = &Registry{OnResult: func(addr string, key ssh.PublicKey, err error) {
		r := result{addr: addr, key: key, err: err}
		if key != nil {
			r.confirmed = f.reg.Confirm(addr, key)
		}
		f.results <- r
	}}
	var accepting sync.WaitGroup
	accepting.Go(func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			f.tunnels.Go(func() { f.relay(client, upstream) })
		}
	})
	f.close = func() {
		l.Close()
		accepting.Wait()
		f.tunnels.Wait()
	}
	t.Cleanup(f.close)
	return f
}

// closed closes the forwarder, waits for its tunnels to end and returns
// what was reported on them.
func (f *forwarder) closed() []result {
	f.close()
	var out []result
	for {
		select {
		case r := <-f.results:
			out = append(out, r)
		default:
			return out
		}
	}
}

func (f *forwarder) relay(client net.Conn, addr string) {
	defer client.Close()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	upstream := f.reg.Watch(addr, raw)
	defer upstream.Close()
	var serverSide sync.WaitGroup
	serverSide.Go(func() {
		// io.Copy takes upstream's WriteTo: the watched part, then a splice.
		_, _ = io.Copy(client, upstream)
		_ = client.(*net.TCPConn).CloseWrite()
	})
	_, _ = io.Copy(upstream, client)
	_ = upstream.(interface{ CloseWrite() error }).CloseWrite()
	serverSide.Wait()
}

// runSSH runs the real ssh client through the forwarder to the server,
// with the given options, running command with stdin as its input.
func runSSH(t *testing.T, s *sshServer, f *forwarder, stdin []byte, command string, opts ...string) ([]byte, error) {
	t.Helper()
	host, port, _ := net.SplitHostPort(f.addr)
	args := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "IdentitiesOnly=yes", "-i", s.clientKey, "-p", port}
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	cmd := exec.Command(needOpenSSH(t, "ssh"), append(args, host, command)...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = bytes.NewReader(stdin), &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w\n%s", err, stderr.Bytes())
	}
	return out, nil
}
