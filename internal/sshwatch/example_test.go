package sshwatch

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"

	"golang.org/x/crypto/ssh"
)

// A CONNECT tunnel watches its connection to the server from the dial on
// (the server speaks first), relays as before, and closes it when the
// tunnel ends, which ends the record. The run's SSH agent asks Confirm.
func ExampleRegistry_Watch() {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	hostKey, _ := ssh.NewSignerFromKey(priv)
	addr, stop, err := startGoSSH(hostKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	run := &Registry{OnResult: func(addr string, key ssh.PublicKey, err error) {
		fmt.Println("the tunnel's server presented", ssh.FingerprintSHA256(key))
	}}

	// The proxy's side of one tunnel to addr (the agent's side is a pipe
	// here).
	agentSide, proxySide := net.Pipe()
	tunnelDone := make(chan struct{})
	go func() {
		defer close(tunnelDone)
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			proxySide.Close()
			return
		}
		upstream := run.Watch(addr, raw)
		defer upstream.Close()
		go func() {
			_, _ = io.Copy(proxySide, upstream)
			proxySide.Close()
		}()
		_, _ = io.Copy(upstream, proxySide)
	}()

	// The agent's ssh client, through the tunnel.
	conn, chans, reqs, err := ssh.NewClientConn(agentSide, addr, &ssh.ClientConfig{
		User: "agent",
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			// The client checks the key after the proxy recorded it.
			fmt.Println("confirmed while the tunnel is open:", run.Confirm(addr, key) == nil)
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ssh.NewClient(conn, chans, reqs).Close()
	<-tunnelDone
	fmt.Println("confirmed after it closed:", run.Confirm(addr, hostKey.PublicKey()) == nil)
	// Output:
	// the tunnel's server presented SHA256:z/fSv0Z0RZS+Lccbc6ZoOWwt/fbj1VFJGSBKQbo4icE
	// confirmed while the tunnel is open: true
	// confirmed after it closed: false
}
