package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/trust"
)

// A cache (docker.cache) is keyed by the workspace and by what the
// approved agent.yaml gives the agent: a config that changes what was
// approved starts from a fresh cache, never from one an agent filled
// under other permissions.

// sandboxDigest is the hex sha256 of permissions, in their stable order.
func sandboxDigest(ps []trust.Permission) string {
	b, err := json.Marshal(trust.Sorted(ps))
	if err != nil {
		panic("run: encoding permissions: " + err.Error()) // strings only
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cacheVolumeName names the cache volume with prefix for a workspace and
// a sandbox digest.
func cacheVolumeName(prefix, workspace, digest string) string {
	sum := sha256.Sum256([]byte(workspace + "\x00" + digest))
	return prefix + hex.EncodeToString(sum[:6])
}

// cacheLabels are a cache volume's labels: where it came from (the
// workspace, the approved config's digest, the run that created it).
// The engine keeps the labels of the first creation.
func (m *Manager) cacheLabels(r *state.Run, p *plan, role string) map[string]string {
	return map[string]string{labels.Managed: "true", labels.Role: role, labels.Workspace: p.workspace,
		labels.Version: m.Version, labels.Home: m.homeID(), labels.ConfigDigest: p.sandboxDigest, labels.CreatedBy: r.ID}
}

// cacheRecord is the run's record of a cache it uses, with its origin:
// the run that created the volume, as its label says.
func (m *Manager) cacheRecord(ctx context.Context, r *state.Run, p *plan, role, name string) state.Volume {
	v := state.Volume{Name: name, Keep: true, Workspace: p.workspace, ConfigDigest: p.sandboxDigest, CreatedBy: r.ID}
	if vols, err := m.Engine.ListVolumes(ctx, labels.Role+"="+role); err == nil {
		for _, o := range vols {
			if o.Name == name && o.Labels[labels.CreatedBy] != "" {
				v.CreatedBy = o.Labels[labels.CreatedBy]
			}
		}
	}
	return v
}
