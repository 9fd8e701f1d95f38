package egress

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/sshagent"
)

// testSSHGrant makes an ssh grant of a new ed25519 key, read from a file,
// for hosts, each with one new host key.
func testSSHGrant(t *testing.T, name string, hosts ...string) (SSHGrant, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := signer.PublicKey()
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	g := grant.Grant{Name: name, Kind: grant.SSH, Hosts: hosts, SSH: &grant.SSHKey{
		Source: grant.SSHFromFile, PublicKey: authorized, Fingerprint: ssh.FingerprintSHA256(pub)}}
	for _, h := range hosts {
		hk, _, _ := ed25519.GenerateKey(rand.Reader)
		hostPub, _ := ssh.NewPublicKey(hk)
		g.SSH.Hosts = append(g.SSH.Hosts, grant.SSHHost{Name: h, Keys: []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub)))}})
	}
	return SSHGrant{Grant: g, Key: pem.EncodeToMemory(block)}, pub
}

// openSSHAgent asks the proxy at addr for the run's SSH agent, as the
// relay in the agent's container does, and returns the connection once
// the proxy answered 200.
func openSSHAgent(t *testing.T, addr, token string) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("moat:" + token))
	io.WriteString(c, "GET http://"+AttestHost+SSHAgentPath+" HTTP/1.1\r\nHost: "+AttestHost+"\r\nProxy-Authorization: Basic "+auth+"\r\n\r\n")
	br := bufio.NewReaderSize(c, 16)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		c.Close()
		return nil, errors.New(res.Status)
	}
	return c, nil
}

// TestProxyServesTheRunsSSHAgent: the proxy of a run with an ssh grant
// serves an agent at SSHAgentPath that lists the granted key alone and
// signs nothing for a session it did not see bound, recording the
// refusal; the grant's host is open on its SSH port only; a wrong token
// gets no agent.
func TestProxyServesTheRunsSSHAgent(t *testing.T) {
	dir := t.TempDir()
	_, runCA := testRunCA(t, dir)
	sg, pub := testSSHGrant(t, "deploy", "git.test:2222")
	_, key, _ := ed25519.GenerateKey(nil)
	auditLog := filepath.Join(dir, "audit.jsonl")
	cfg := &Config{Token: "tok-ssh", Socket: filepath.Join(dir, "p.sock"), Policy: Policy{Mode: "strict"}, CA: runCA,
		SSH: []SSHGrant{sg}, Audit: &Audit{Path: auditLog, RunID: "run1", Key: key}}
	data, _ := json.Marshal(cfg)
	cfg, err := ReadConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if pol, err := runPolicy(cfg); err != nil {
		t.Fatal(err)
	} else if !pol.CheckHost("git.test", 2222).Allowed || pol.CheckHost("git.test", 443).Allowed || pol.CheckHost("git.test", 22).Allowed {
		t.Errorf("policy: git.test:2222 %v, :443 %v, :22 %v; want only the grant's SSH port open",
			pol.CheckHost("git.test", 2222).Allowed, pol.CheckHost("git.test", 443).Allowed, pol.CheckHost("git.test", 22).Allowed)
	}
	addr, stop := runSidecar(t, cfg, 0, io.Discard)

	if _, err := openSSHAgent(t, addr, "wrong"); err == nil || !strings.Contains(err.Error(), "407") {
		t.Errorf("a wrong token got %v, want 407", err)
	}
	c, err := openSSHAgent(t, addr, cfg.Token)
	if err != nil {
		t.Fatal(err)
	}
	client := agent.NewClient(c)
	keys, err := client.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !bytes.Equal(keys[0].Marshal(), pub.Marshal()) {
		t.Fatalf("the agent lists %d keys, want the granted key alone", len(keys))
	}
	if _, err := client.Sign(pub, []byte("not a userauth request")); err == nil {
		t.Error("the agent signed for a session that was never bound")
	}
	c.Close()
	stop()

	var refused map[string]string
	for _, e := range readAudit(t, auditLog) {
		if e.Kind == audit.KindSSHSign {
			refused = e.Data
		}
	}
	if refused["verdict"] != string(sshagent.Refused) || refused["reason"] != sshagent.ReasonNotBound || refused["key"] != ssh.FingerprintSHA256(pub) {
		t.Errorf("audit ssh.sign %v, want a refusal of the key for an unbound session", refused)
	}
}

// TestSSHServiceWatchesSSHTunnels: the tunnels to a grant's host and port
// are watched (their host keys feed the agent's check), and so is any
// other not on 443 (a refusal names its host); TLS tunnels pass untouched.
func TestSSHServiceWatchesSSHTunnels(t *testing.T) {
	sg, _ := testSSHGrant(t, "deploy", "github.com", "git.test:2222")
	svc, err := newSSHService(&Config{SSH: []SSHGrant{sg}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	for _, c := range []struct {
		host    string
		port    int
		watched bool
	}{{"github.com", 22, true}, {"git.test", 2222, true}, {"github.com", 443, false}, {"other.test", 22, true}, {"other.test", 443, false}} {
		got := svc.watch(c.host, c.port, a)
		if (got != a) != c.watched {
			t.Errorf("%s:%d: watched %v, want %v", c.host, c.port, got != a, c.watched)
		}
		if got != a {
			got.Close() // releases the record; a is closed by the defer
		}
	}
}
