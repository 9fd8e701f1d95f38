package run

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// graceEngine is an engine whose stop with a grace period lasts until a
// stop without one: a command that ignores SIGTERM.
type graceEngine struct {
	Engine
	mu     sync.Mutex
	graces []time.Duration
	killed chan struct{}
}

func (e *graceEngine) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	e.mu.Lock()
	e.graces = append(e.graces, grace)
	e.mu.Unlock()
	if grace == 0 {
		close(e.killed)
		return nil
	}
	select {
	case <-e.killed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestStopCommandKill(t *testing.T) {
	t.Parallel()
	eng := &graceEngine{killed: make(chan struct{})}
	m := &Manager{Engine: eng}
	kill := make(chan struct{})
	close(kill) // the user's second Ctrl-C, before or during the grace
	if err := m.stopCommand(context.Background(), "c1", StopGrace, kill); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{StopGrace, 0}; !slices.Equal(eng.graces, want) && !slices.Equal(eng.graces, []time.Duration{0, StopGrace}) {
		t.Fatalf("stops asked for %v, want %v in either order", eng.graces, want)
	}
}

func TestStopCommandWithoutKill(t *testing.T) {
	t.Parallel()
	eng := &graceEngine{killed: make(chan struct{})}
	m := &Manager{Engine: eng}
	if err := m.stopCommand(context.Background(), "c1", 0, nil); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0}; !slices.Equal(eng.graces, want) {
		t.Fatalf("stops asked for %v, want %v", eng.graces, want)
	}
}
