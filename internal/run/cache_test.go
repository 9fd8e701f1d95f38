package run

import (
	"context"
	"testing"

	"github.com/moatsh/moat/internal/labels"
)

// A cache is keyed by the workspace and by the approved sandbox: a config
// that asks for more starts from a fresh cache, and the run records where
// its cache came from.
func TestCacheKeyedByApprovedConfig(t *testing.T) {
	cacheOf := func(yaml string) (string, map[string]string) {
		m, vf := newBuildkitManager(t, nil)
		vf.AddImage(DefaultBuildkitImage)
		ws := writeWorkspace(t, yaml)
		res, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Run.Volumes {
			if v.Keep && v.ConfigDigest != "" && v.CreatedBy == res.Run.ID && v.Workspace == ws {
				return v.Name[len(v.Name)-12:], map[string]string{labels.ConfigDigest: v.ConfigDigest}
			}
		}
		t.Fatalf("no cache with its origin in %+v", res.Run.Volumes)
		return "", nil
	}
	_, a := cacheOf("dependencies: [docker:dind]\ndocker: {cache: true}\n")
	_, b := cacheOf("dependencies: [docker:dind]\ndocker: {cache: true}\nnetwork: {policy: permissive}\n")
	if a[labels.ConfigDigest] == b[labels.ConfigDigest] {
		t.Fatal("a wider approved config reuses the same cache key")
	}
	if DindCacheVolume("/w", "d1") == DindCacheVolume("/w", "d2") || DindCacheVolume("/w", "d1") != DindCacheVolume("/w", "d1") {
		t.Fatal("cache names do not follow the config digest")
	}
}
