package egress

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The relay holds a connection to the proxy's "alive" socket, next to its
// proxy socket, for as long as the agent's container lives. When the last
// such connection closes, the agent is gone and the proxy stops by itself:
// a detached run leaves no proxy running after its command ended, even
// when no moat command comes by to finish the run.
const aliveName = "alive.sock"

// agentGrace is how long the proxy waits for the first relay before it
// concludes the agent never came (its container failed to start).
const agentGrace = 2 * time.Minute

func aliveSocket(proxySocket string) string {
	return filepath.Join(filepath.Dir(proxySocket), aliveName)
}

// watchAgent listens on the alive socket and calls gone once every relay
// that connected has disconnected, or when none came within grace.
func watchAgent(path string, grace time.Duration, gone func()) (io.Closer, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	var mu sync.Mutex
	live, seen := 0, false
	timer := time.AfterFunc(grace, func() {
		mu.Lock()
		defer mu.Unlock()
		if !seen {
			gone()
		}
	})
	go func() {
		defer timer.Stop()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			live, seen = live+1, true
			mu.Unlock()
			go func() {
				io.Copy(io.Discard, c) // until the relay's side closes
				c.Close()
				mu.Lock()
				live--
				last := live == 0
				mu.Unlock()
				if last {
					gone()
				}
			}()
		}
	}()
	return ln, nil
}

// holdAlive connects to the alive socket (waiting for the proxy to listen)
// and holds the connection until ctx ends or the process exits.
func holdAlive(ctx context.Context, path string, wait time.Duration) {
	c, err := dialWaiting(ctx, path, wait)
	if err != nil {
		return
	}
	<-ctx.Done()
	c.Close()
}
