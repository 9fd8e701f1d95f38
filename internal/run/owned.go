package run

import (
	"context"
	"fmt"
	"slices"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// A run's record names the engine objects moat stops and removes (its
// container, sidecars, volumes). Before it acts on one, moat checks that
// the object carries the run's labels: a record rewritten by a process
// that could write to it must not make moat stop or remove a container or
// volume of the user's, or of another moat home's run.

// NotOwnedError reports an object a run's record names that is not the
// run's own.
type NotOwnedError struct {
	Kind, ID, RunID, Why string
}

func (e *NotOwnedError) Error() string {
	return fmt.Sprintf("refusing to touch %s %s, which run %s's record names: %s; the record may have been rewritten",
		e.Kind, printable(e.ID), e.RunID, e.Why)
}

// owns checks that an object's labels say it is run r's, with one of
// roles, made by this moat home (or by a moat from before the home label).
func (m *Manager) owns(kind, id string, lbl map[string]string, r *state.Run, roles ...string) error {
	why := ""
	switch {
	case lbl[labels.Managed] != "true":
		why = "it is not moat's (no moat.managed label)"
	case lbl[labels.RunID] != r.ID:
		why = fmt.Sprintf("it belongs to run %s", printable(lbl[labels.RunID]))
	case !slices.Contains(roles, lbl[labels.Role]):
		why = fmt.Sprintf("its role is %s", printable(lbl[labels.Role]))
	case !m.homeOK(lbl):
		why = "another moat home made it"
	default:
		return nil
	}
	return &NotOwnedError{Kind: kind, ID: id, RunID: r.ID, Why: why}
}

// homeOK accepts this home's objects and those of a moat that did not
// label homes yet.
func (m *Manager) homeOK(lbl map[string]string) bool {
	h, ok := lbl[labels.Home]
	return !ok || h == m.homeID()
}

// ownContainer inspects the container the record of r names as its
// agent's and checks it is r's. A container the engine no longer knows is
// runtime.ErrNotFound.
func (m *Manager) ownContainer(ctx context.Context, r *state.Run, id string, roles ...string) error {
	if id == "" {
		return runtime.ErrNotFound
	}
	c, err := m.Engine.InspectContainer(ctx, id)
	if err != nil {
		return err
	}
	return m.owns("container", id, c.Labels, r, roles...)
}

// ownVolumes returns the names of run r's volumes on the engine, found by
// label, that this home made.
func (m *Manager) ownVolumes(ctx context.Context, r *state.Run) (map[string]bool, error) {
	vs, err := m.Engine.ListVolumes(ctx, labels.RunFilter(r.ID))
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	for _, v := range vs {
		if m.owns("volume", v.Name, v.Labels, r, labels.RoleDind, labels.RoleBuildkit) == nil {
			own[v.Name] = true
		}
	}
	return own, nil
}
