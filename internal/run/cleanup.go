package run

import "context"

// cleanupStack holds the undo of every resource a step acquired. If the
// run fails before it is handed over, the stack runs in reverse.
type cleanupStack struct{ undo []func(context.Context) }

func (s *cleanupStack) push(f func(context.Context)) { s.undo = append(s.undo, f) }

// release forgets the undo steps: the resources now belong to the run.
func (s *cleanupStack) release() { s.undo = nil }

// unwind runs the undo steps in reverse with a context that survives the
// cancellation of ctx.
func (s *cleanupStack) unwind(ctx context.Context) {
	cctx, cancel := detached(ctx)
	defer cancel()
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i](cctx)
	}
	s.undo = nil
}
