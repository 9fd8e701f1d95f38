package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestUnreachableHint: a socket the user may not open gets the remedy for
// that (the group that owns it), not "start the engine", which is running.
func TestUnreachableHint(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		// What the Engine client returns: the dial's error, wrapped.
		op := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
		return fmt.Errorf("permission denied while trying to connect to the Docker daemon socket: %w", op)
	}
	tests := []struct {
		name      string
		err       error
		want      []string
		wantNever string
	}{
		{name: "permission denied", err: dial(syscall.EACCES),
			want:      []string{"may not open its socket /var/run/docker.sock", "sudo usermod -aG docker $USER", "ls -l /var/run/docker.sock"},
			wantNever: "Start the Docker engine"},
		{name: "no engine", err: dial(syscall.ECONNREFUSED), want: []string{"Start the Docker engine"}, wantNever: "usermod"},
		{name: "no answer", err: errors.New("no answer within 5s"), want: []string{"Start the Docker engine"}, wantNever: "usermod"},
	}
	for _, tt := range tests {
		hint := (&UnreachableError{Engine: "Docker", Host: "unix:///var/run/docker.sock", Err: tt.err}).Hint()
		for _, w := range tt.want {
			if !strings.Contains(hint, w) {
				t.Errorf("%s: hint %q lacks %q", tt.name, hint, w)
			}
		}
		if strings.Contains(hint, tt.wantNever) {
			t.Errorf("%s: hint %q says %q", tt.name, hint, tt.wantNever)
		}
	}
}
