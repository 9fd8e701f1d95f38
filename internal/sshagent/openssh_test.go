package sshagent

import (
	"crypto"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// openSSH is two real sshd on loopback, both accepting keys A and B, and
// a hashed known_hosts file for both.
type openSSH struct {
	dir                string
	keyA, keyB         ssh.Signer
	keyAFile, keyBFile string
	a, b               *sshServer
	knownHosts         string
}

func newOpenSSH(t *testing.T) *openSSH {
	t.Helper()
	f := &openSSH{dir: t.TempDir()}
	var privA, privB crypto.PrivateKey
	f.keyA, privA = newSignerAndKey(t)
	f.keyB, privB = newSignerAndKey(t)
	f.keyAFile, f.keyBFile = filepath.Join(f.dir, "key_a"), filepath.Join(f.dir, "key_b")
	writeKey(t, f.keyAFile, privA)
	writeKey(t, f.keyBFile, privB)
	f.a = startSSHD(t, filepath.Join(f.dir, "sshd_a"), f.keyA.PublicKey(), f.keyB.PublicKey())
	f.b = startSSHD(t, filepath.Join(f.dir, "sshd_b"), f.keyA.PublicKey(), f.keyB.PublicKey())
	f.knownHosts = filepath.Join(f.dir, "known_hosts")
	writeHashedKnownHosts(t, f.knownHosts, f.a, f.b)
	return f
}

// grantForA grants a key for server A, with A's host key as known_hosts
// lists it.
func (f *openSSH) grantForA(t *testing.T, b Backend) Key {
	t.Helper()
	hostKeys, err := KnownHostKeys(f.knownHosts, f.a.addr())
	if err != nil {
		t.Fatal(err)
	}
	return Key{Grant: "deploy", Backend: b, Hosts: []Host{{Name: f.a.addr(), Keys: hostKeys}}}
}

// serveKeyAOnly serves an agent with key A granted for server A through b,
// with Confirm agreeing, and checks that ssh-add lists key A only.
func (f *openSSH) serveKeyAOnly(t *testing.T, b Backend) (sock string, rec *recorder) {
	t.Helper()
	rec = &recorder{}
	srv, err := New(Config{
		Keys:    []Key{f.grantForA(t, b)},
		Confirm: func(string, ssh.PublicKey) error { return nil },
		Audit:   rec.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	sock = serveAgent(t, srv, f.dir)
	if got, want := sshAddList(t, sock), []string{ssh.FingerprintSHA256(f.keyA.PublicKey())}; !slices.Equal(got, want) {
		t.Fatalf("ssh-add -l: got %q, want key A only %q", got, want)
	}
	return sock, rec
}

// ssh runs ssh to server s through the agent at sock and returns the
// audit events it caused.
func (f *openSSH) ssh(t *testing.T, sock string, s *sshServer, rec *recorder, wantOK bool) []Event {
	t.Helper()
	before := len(rec.all())
	out, err := runSSH(t, sock, f.knownHosts, s)
	if wantOK && err != nil {
		t.Fatalf("ssh to %s: %v\n%s\nsshd's log:\n%s", s.addr(), err, out, s.log)
	}
	if !wantOK && (err == nil || !strings.Contains(out, "Permission denied")) {
		t.Fatalf("ssh to %s: got %v, %q; want permission denied", s.addr(), err, out)
	}
	return rec.all()[before:]
}

func outcomes(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, outcome(e))
	}
	return out
}

// TestOpenSSHSignsOnlyForTheGrantedHost runs the real ssh with the agent
// as SSH_AUTH_SOCK: key A, from its file, is granted for server A; both
// servers accept it, and only A gets a signature.
func TestOpenSSHSignsOnlyForTheGrantedHost(t *testing.T) {
	t.Parallel()
	f := newOpenSSH(t)
	signer, err := LoadKeyFile(f.keyAFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	sock, rec := f.serveKeyAOnly(t, SignerBackend{signer})
	events := f.ssh(t, sock, f.a, rec, true)
	if got := outcomes(events); !slices.Equal(got, []string{"signed"}) {
		t.Fatalf("ssh to A: audit events %q, want one signature", got)
	}
	if e := events[0]; e.Grant != "deploy" || e.Host != f.a.addr() || e.Key != ssh.FingerprintSHA256(f.keyA.PublicKey()) ||
		e.HostKey != ssh.FingerprintSHA256(f.a.hostKey) {
		t.Fatalf("ssh to A: got event %+v", e)
	}
	events = f.ssh(t, sock, f.b, rec, false)
	if got, want := outcomes(events), []string{"refused: " + ReasonHostNotGranted}; !slices.Equal(got, want) {
		t.Fatalf("ssh to B: audit events %q, want %q", got, want)
	}
	if e := events[0]; e.Grant != "deploy" || e.Host != "" || e.HostKey != ssh.FingerprintSHA256(f.b.hostKey) {
		t.Fatalf("ssh to B: got event %+v", e)
	}
}

// TestOpenSSHConfirmRefusal checks that the proxy's word is needed: with
// Confirm refusing, the granted host gets no signature either.
func TestOpenSSHConfirmRefusal(t *testing.T) {
	t.Parallel()
	f := newOpenSSH(t)
	var rec recorder
	var asked []string
	srv, err := New(Config{
		Keys: []Key{f.grantForA(t, SignerBackend{f.keyA})},
		Confirm: func(host string, hostKey ssh.PublicKey) error {
			asked = append(asked, host+" "+ssh.FingerprintSHA256(hostKey))
			return errTestNoTunnel
		},
		Audit: rec.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	sock := serveAgent(t, srv, f.dir)
	events := f.ssh(t, sock, f.a, &rec, false)
	if got, want := outcomes(events), []string{"refused: " + ReasonNotConfirmed}; !slices.Equal(got, want) {
		t.Fatalf("audit events %q, want %q", got, want)
	}
	if e := events[0]; e.Host != f.a.addr() || e.Detail != errTestNoTunnel.Error() {
		t.Fatalf("got event %+v, want host %s and Confirm's error", e, f.a.addr())
	}
	if want := f.a.addr() + " " + ssh.FingerprintSHA256(f.a.hostKey); !slices.Equal(asked, []string{want}) {
		t.Fatalf("Confirm was asked %q, want %q", asked, want)
	}
}

var errTestNoTunnel = errors.New("no tunnel of this run presented that host key")

// TestOpenSSHUpstreamAgent grants key A from a real ssh-agent that holds
// keys A and B: only A is listed, A's signatures are the upstream agent's
// (once it drops the key, signing fails), and B's host still gets none.
func TestOpenSSHUpstreamAgent(t *testing.T) {
	t.Parallel()
	f := newOpenSSH(t)
	upstream, upstreamSock := startSSHAgent(t, f.dir, f.keyAFile, f.keyBFile)
	if got := sshAddList(t, upstreamSock); len(got) != 2 {
		t.Fatalf("the upstream agent lists %q, want keys A and B", got)
	}
	backend, err := FindAgentKey(upstream, ssh.FingerprintSHA256(f.keyA.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	assertHoldsNoPrivateKey(t, backend)
	sock, rec := f.serveKeyAOnly(t, backend)
	if got := outcomes(f.ssh(t, sock, f.a, rec, true)); !slices.Equal(got, []string{"signed"}) {
		t.Fatalf("ssh to A: audit events %q, want one signature", got)
	}
	if got, want := outcomes(f.ssh(t, sock, f.b, rec, false)), []string{"refused: " + ReasonHostNotGranted}; !slices.Equal(got, want) {
		t.Fatalf("ssh to B: audit events %q, want %q", got, want)
	}
	if err := upstream.Remove(f.keyA.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if got, want := outcomes(f.ssh(t, sock, f.a, rec, false)), []string{"refused: " + ReasonSignerFailed}; !slices.Equal(got, want) {
		t.Fatalf("ssh to A after the upstream agent dropped key A: audit events %q, want %q", got, want)
	}
}

// assertHoldsNoPrivateKey checks that nothing in an agent backend can sign
// by itself: it holds the upstream agent's client and a public key.
func assertHoldsNoPrivateKey(t *testing.T, b AgentBackend) {
	t.Helper()
	signer := reflect.TypeFor[ssh.Signer]()
	cryptoSigner := reflect.TypeFor[crypto.Signer]()
	v := reflect.ValueOf(b)
	for i := range v.NumField() {
		field := v.Field(i)
		if field.Kind() == reflect.Interface && !field.IsNil() {
			field = field.Elem()
		}
		if field.Type().Implements(signer) || field.Type().Implements(cryptoSigner) {
			t.Errorf("AgentBackend.%s is a %s, which can sign by itself", v.Type().Field(i).Name, field.Type())
		}
	}
}
