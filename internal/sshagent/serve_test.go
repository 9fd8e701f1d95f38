package sshagent

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh/agent"
)

// TestServeAndClose serves two clients on a unix socket, each with an agent
// of its own, and checks that Close ends Serve and hangs up on them.
func TestServeAndClose(t *testing.T) {
	t.Parallel()
	host, key := newSigner(t), newSigner(t)
	srv := newTestServer(t, key, "a.example", host.PublicKey())
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	var clients []agent.ExtendedAgent
	for range 2 {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		client := agent.NewClient(c)
		if keys, err := client.List(); err != nil || len(keys) != 1 {
			t.Fatalf("List: got %d keys, %v; want the granted key", len(keys), err)
		}
		clients = append(clients, client)
	}
	// A bind on one connection is not a bind on the other.
	if _, err := clients[0].Extension(sessionBindExtension, bindPayload(t, host, []byte("sid"), false, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[1].Sign(key.PublicKey(), userauthData([]byte("sid"), key.PublicKey(), nil)); err == nil {
		t.Fatal("the unbound connection got a signature")
	}
	if _, err := clients[0].Sign(key.PublicKey(), userauthData([]byte("sid"), key.PublicKey(), nil)); err != nil {
		t.Fatalf("the bound connection: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	for i, c := range clients {
		if _, err := c.List(); err == nil {
			t.Errorf("client %d: the connection still answers after Close", i)
		}
	}
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("the socket still accepts after Close")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	l2, err := net.Listen("unix", filepath.Join(t.TempDir(), "again.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l2); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close returned %v, want ErrServerClosed", err)
	}
}
