package run

import (
	"context"
	"sync"
)

// cleanupStack holds the undo of every resource a step acquired. If the
// run fails before it is handed over, the stack runs in reverse. Steps
// running at once (the proxy starts alongside the agent) may push to it.
type cleanupStack struct {
	mu   sync.Mutex
	undo []func(context.Context)
}

func (s *cleanupStack) push(f func(context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.undo = append(s.undo, f)
}

// release forgets the undo steps: the resources now belong to the run.
func (s *cleanupStack) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.undo = nil
}

// unwind runs the undo steps in reverse with a context that survives the
// cancellation of ctx.
func (s *cleanupStack) unwind(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cctx, cancel := detached(ctx)
	defer cancel()
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i](cctx)
	}
	s.undo = nil
}
