package sshwatch

import (
	"bytes"
	"crypto/ed25519"
	"net"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestGoSSHHostKeys does what TestOpenSSHHostKeys does with Go's SSH
// client and server, for methods this machine's OpenSSH does not offer:
// ML-KEM (OpenSSH 9.9 and later), and others of other ephemeral sizes.
func TestGoSSHHostKeys(t *testing.T) {
	t.Parallel()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	hostSigner, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveGoSSH(t, hostSigner)
	for _, kex := range []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521,
		ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDHGEXSHA256} {
		t.Run(kex, func(t *testing.T) {
			t.Parallel()
			f := newForwarder(t, addr)
			client, err := ssh.Dial("tcp", f.addr, &ssh.ClientConfig{
				User:            "watched",
				HostKeyCallback: ssh.FixedHostKey(hostSigner.PublicKey()),
				Config:          ssh.Config{KeyExchanges: []string{kex}},
			})
			if err != nil {
				t.Fatalf("ssh.Dial through the tunnel: %v", err)
			}
			client.Close()
			checkOneHostKey(t, f, addr, hostSigner.PublicKey())
		})
	}
}

// serveGoSSH serves Go's SSH server on a loopback port for the test.
func serveGoSSH(t *testing.T, hostKey ssh.Signer) string {
	t.Helper()
	addr, stop, err := startGoSSH(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// startGoSSH serves Go's SSH server, which lets any client in and serves
// nothing, on a loopback port, with every key exchange method the tests
// use; stop closes it and waits for its connections to end.
func startGoSSH(hostKey ssh.Signer) (addr string, stop func(), err error) {
	cfg := &ssh.ServerConfig{NoClientAuth: true, Config: ssh.Config{KeyExchanges: []string{
		ssh.KeyExchangeCurve25519, ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521,
		ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDHGEXSHA256}}}
	cfg.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var conns sync.WaitGroup
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { serveGoSSHConn(c, cfg) })
		}
	})
	return l.Addr().String(), func() {
		l.Close()
		conns.Wait()
	}, nil
}

func serveGoSSHConn(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for ch := range chans {
		_ = ch.Reject(ssh.Prohibited, "nothing is served")
	}
	sc.Close()
}
