package run

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/run/runtest"
	"github.com/moatsh/moat/internal/runtime"
)

// TestPlanCleanTakesOnlyWhatIsOrphaned puts on the engine what another moat
// home, a build and the user have, beside one true orphan: only the orphan
// and the unused images are planned for removal.
func TestPlanCleanTakesOnlyWhatIsOrphaned(t *testing.T) {
	t.Parallel()
	m, eng := newTestManager(t)
	now := time.Now()
	m.Now = func() time.Time { return now }
	runLabels := func(id, role, home string) map[string]string {
		return map[string]string{labels.Managed: "true", labels.RunID: id, labels.Role: role, labels.Home: home}
	}
	add := func(name, image string, running bool, lbl map[string]string) {
		eng.Containers[name] = &runtest.Container{Info: runtime.ContainerInfo{
			ID: name, Name: name, Image: image, Labels: lbl, Running: running}}
	}
	imageLabels := map[string]string{labels.Managed: "true", labels.Role: labels.RoleImage}
	// Another home's live run: its agent and proxy.
	add("moat-aaa", "moat/run:inuse", true, runLabels("aaa", labels.RoleAgent, "otherhome"))
	add("moat-aaa-proxy", "debian", true, runLabels("aaa", labels.RoleProxy, "otherhome"))
	// A build's intermediate container and a user's container, both from
	// moat images: labels inherited.
	add("build-step", "sha256:layer", true, imageLabels)
	add("users-own", "moat/run:users", false, imageLabels)
	// A container from an image committed from a run: a run's labels, not
	// a run's name.
	add("festive_turing", "committed", false, runLabels("bbb", labels.RoleAgent, m.homeID()))
	// Another home's run that has just ended: that home finishes it.
	add("moat-ddd", "moat/run:old", false, runLabels("ddd", labels.RoleAgent, "otherhome"))
	// The one orphan: its run's record is gone and it is not running.
	add("moat-ccc", "moat/run:old", false, runLabels("ccc", labels.RoleAgent, m.homeID()))
	eng.Images = []runtime.ImageInfo{
		{ID: "sha256:1", Tags: []string{"moat/run:inuse"}, Created: now},
		{ID: "sha256:2", Tags: []string{"moat/run:unused"}, Created: now},
		{ID: "sha256:3", Tags: []string{"moat/run:users"}, Created: now},
		{ID: "sha256:layer", Created: now.Add(-2 * time.Hour)},
		{ID: "sha256:young", Created: now.Add(-time.Minute)},
		{ID: "sha256:old", Created: now.Add(-2 * time.Hour)},
	}
	plan, err := m.PlanClean(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	var orphans, images []string
	for _, o := range plan.Orphans {
		orphans = append(orphans, o.Name)
	}
	for _, o := range plan.Images {
		images = append(images, o.ID)
	}
	if !slices.Equal(orphans, []string{"moat-ccc"}) {
		t.Errorf("orphans %v, want [moat-ccc]", orphans)
	}
	slices.Sort(images)
	if want := []string{"moat/run:unused", "sha256:old"}; !slices.Equal(images, want) {
		t.Errorf("images %v, want %v", images, want)
	}
}
