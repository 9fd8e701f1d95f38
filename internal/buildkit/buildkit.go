// Package buildkit owns moat's use of the BuildKit client: checking that a
// run's BuildKit sidecar answers, and building images through a BuildKit
// daemon where moat runs inside a run (BUILDKIT_HOST).
package buildkit

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/buildkit/client"
)

// probeTimeout bounds one readiness probe, so a daemon that accepts
// connections but does not answer cannot hold the caller.
const probeTimeout = 2 * time.Second

// Ready asks the daemon at address ("unix:///path", "tcp://host:port")
// for its workers; it succeeds once the daemon answers with at least one.
func Ready(ctx context.Context, address string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	c, err := client.New(ctx, address)
	if err != nil {
		return err
	}
	defer c.Close()
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return fmt.Errorf("the daemon has no workers")
	}
	return nil
}
