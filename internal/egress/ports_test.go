package egress

import (
	"context"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// relayPair connects a publisher's sockets to a relay's Hold, as the
// proxy's socket connects them in a run, and returns the publisher of
// one port that leads to agentPort.
func relayPair(t *testing.T, agentPort int) *publisher {
	t.Helper()
	pub, err := listenPorts([]PublishedPort{{Host: "127.0.0.1:0", ContainerPort: agentPort}}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	proxySide, relaySide := unixConn(t, fds[0]), unixConn(t, fds[1])
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() { Hold(ctx, relaySide); close(held) }()
	read := make(chan struct{})
	go func() { readRelay(proxySide, pub.sockets); close(read) }()
	t.Cleanup(func() {
		cancel()
		<-held
		<-read
		pub.Close()
	})
	return pub
}

func unixConn(t *testing.T, fd int) *net.UnixConn {
	f := os.NewFile(uintptr(fd), "pair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
}

func TestPublishedPortReachesTheAgentsPort(t *testing.T) {
	agent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	go func() {
		c, err := agent.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until the client half-closes
		c.Write(append([]byte("echo:"), b...))
	}()
	pub := relayPair(t, agent.Addr().(*net.TCPAddr).Port)
	c, err := net.Dial("tcp", pub.listeners[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "echo:hello" {
		t.Fatalf("got %q, %v; want %q", got, err, "echo:hello")
	}
}

func TestPublishedPortWithNothingListeningClosesTheConnection(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	pub := relayPair(t, port)
	c, err := net.Dial("tcp", pub.listeners[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Closed at once, with nothing read (a reset or an end of file).
	if got, _ := io.ReadAll(c); len(got) != 0 {
		t.Fatalf("got %q, want the connection closed", got)
	}
}

func TestListenPortsRefusesATakenAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = listenPorts([]PublishedPort{{Host: taken.Addr().String(), ContainerPort: 3000}}, t.Logf)
	want := "publishing port 3000 on " + taken.Addr().String() + ": listen tcp " + taken.Addr().String() + ": bind: address already in use"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestConnectInAgentRefusesAnythingButAFreshTCPSocket(t *testing.T) {
	bound, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := unix.Bind(bound, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	udp, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	un, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	for name, fd := range map[string]int{"bound": bound, "udp": udp, "unix": un} {
		if c, err := connectInAgent(fd, 9); err == nil {
			c.Close()
			t.Errorf("%s socket: connected", name)
		}
	}
}
