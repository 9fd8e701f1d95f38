package sshagent

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// newSigner makes a fresh ed25519 key.
func newSigner(t testing.TB) ssh.Signer {
	s, _ := newSignerAndKey(t)
	return s
}

// newSignerAndKey makes a fresh ed25519 key and returns its private key
// too, to write it to a file.
func newSignerAndKey(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

// recorder collects audit events from concurrent connections.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// bindPayload is a session-bind@openssh.com request as ssh sends it, made
// with the host's key; tamper alters the signature after signing.
func bindPayload(t testing.TB, host ssh.Signer, sessionID []byte, forwarding, tamper bool) []byte {
	t.Helper()
	sig, err := host.Sign(rand.Reader, sessionID)
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		sig.Blob[0] ^= 1
	}
	return ssh.Marshal(struct {
		HostKey    []byte
		SessionID  []byte
		Signature  []byte
		Forwarding bool
	}{host.PublicKey().Marshal(), sessionID, ssh.Marshal(sig), forwarding})
}

// userauthData is what ssh asks the agent to sign for publickey
// authentication in session sessionID; a non-nil hostKey makes it the
// publickey-hostbound variant OpenSSH uses with servers that offer it.
func userauthData(sessionID []byte, key, hostKey ssh.PublicKey) []byte {
	w := userauthWire{SessionID: sessionID, Type: msgUserauthRequest, User: "git", Service: "ssh-connection",
		Method: methodPublickey, HasSignature: true, Algorithm: key.Type(), KeyBlob: key.Marshal()}
	if hostKey != nil {
		w.Method, w.Rest = methodHostbound, ssh.Marshal(struct{ HostKey []byte }{hostKey.Marshal()})
	}
	return ssh.Marshal(w)
}

// dialAgent serves one agent of srv over an in-memory connection and
// returns a client of it, as ssh would hold.
func dialAgent(t testing.TB, srv *Server) agent.ExtendedAgent {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		agent.ServeAgent(srv.NewAgent(), server)
	}()
	t.Cleanup(func() {
		client.Close()
		server.Close()
		<-done
	})
	return agent.NewClient(client)
}
