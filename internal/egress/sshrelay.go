package egress

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// The agent's ssh reaches the run's ssh agent (the proxy serves it at
// SSHAgentPath) through a unix socket in its container, SSH_AUTH_SOCK,
// which the relay creates as root and its background half serves: each
// connection to it becomes a request to SSHAgentPath on the agent's proxy
// port, with the run's token, which the agent's processes need not hold.

// RelayTokenEnv, in the environment of the relay's background half,
// is the run's proxy token, which it sends for the ssh agent. It is kept
// off the command line, which every process in the container can read.
const RelayTokenEnv = "MOAT_RELAY_TOKEN"

// ListenSSHAgent creates the relay's ssh-agent socket at path: its
// directory (0755, this process's, made if missing; an existing one must
// be a directory of this process's user that no other can write to, not
// a link), and the socket, which every user may connect to (0666) but
// only its owner replace. A socket left at path by an earlier relay is
// replaced. Closing the listener leaves the socket file in place: the
// relay hands the listener to its background half.
func ListenSSHAgent(path string) (*net.UnixListener, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("ssh-agent socket %q: the path must be absolute", path)
	}
	if err := ownDirectory(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("ssh-agent socket %s: %w", path, err)
	}
	switch fi, err := os.Lstat(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("ssh-agent socket: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return nil, fmt.Errorf("ssh-agent socket %s: something other than a socket is there (%s)", path, fi.Mode().Type())
	default:
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("ssh-agent socket: replacing an old one: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ssh-agent socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ssh-agent socket: %w", err)
	}
	return ln, nil
}

// ownDirectory makes dir (0755) unless it exists, and checks that it is
// a directory, not a link, of this process's user, that no one else can
// write to: only then can no other user replace the socket in it.
func ownDirectory(dir string) error {
	if err := os.Mkdir(dir, 0o755); err == nil {
		return os.Chmod(dir, 0o755) // past the umask
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("making its directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("its directory %s is a symbolic link; it must be a directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("its directory %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("its directory %s can be written to by other users (mode %s)", dir, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("its directory %s belongs to user %d, not %d", dir, st.Uid, os.Getuid())
	}
	return nil
}

// ServeSSHAgentRelay serves the relay's ssh-agent socket ln until ctx
// ends: it carries each connection, both ways, to a connection of its
// own to the proxy's port at proxyAddr on which it has asked for
// SSHAgentPath with token. If the proxy refuses, the connection is
// closed (the proxy's log says why). When ctx ends it closes ln and
// every connection and returns once they are done.
func ServeSSHAgentRelay(ctx context.Context, ln net.Listener, proxyAddr, token string) {
	forwardEach(ctx, ln, proxyAddr, func(ctx context.Context, up net.Conn) error {
		return DialLocal(ctx, up, token, SSHAgentPath)
	})
}
