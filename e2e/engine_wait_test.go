//go:build e2e

package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
)

// TestWaitRemovedAsTheEngineRemoves asks the Docker adapter to wait for the
// removal of auto-removed containers at the moment the engine removes them
// (just after they exit), as a run's end waits for its proxy. Engine 20.10
// loses a wait for the condition "removed" that arrives during the removal
// (about one proxy in a hundred here: the run then waited out its bound);
// WaitRemoved follows the engine's events instead. Each wait must return,
// and only once the container is gone. The deadline is a hang detector, far
// above any removal.
func TestWaitRemovedAsTheEngineRemoves(t *testing.T) {
	ctx := context.Background()
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	spec := runtime.ContainerSpec{Image: baseImage, Cmd: []string{"true"}, Network: runtime.NetworkNone, AutoRemove: true,
		Labels: map[string]string{labels.Managed: "true", labels.RunID: "e2e-wait-removed"}, CapDrop: []string{"ALL"}}
	for i := 0; i < 12; i++ {
		id, err := eng.CreateContainer(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.StartContainer(ctx, id); err != nil {
			eng.RemoveContainer(ctx, id)
			t.Fatal(err)
		}
		// Its exit starts the engine's removal: wait for the removal now.
		eng.WaitContainer(ctx, id)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = eng.WaitRemoved(wctx, id)
		cancel()
		if err != nil {
			eng.RemoveContainer(ctx, id)
			t.Fatalf("waiting for container %d's removal: %v", i, err)
		}
		if _, err := eng.InspectContainer(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
			eng.RemoveContainer(ctx, id)
			t.Fatalf("WaitRemoved returned, and container %d is still there (inspect: %v)", i, err)
		}
	}
	// Already gone: at once.
	if err := eng.WaitRemoved(ctx, "moat-e2e-never-was"); err != nil {
		t.Errorf("WaitRemoved on a container that never was: %v, want nil", err)
	}
}
