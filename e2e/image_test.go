//go:build e2e

package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
)

// imageOnce builds each dependency set's image once per test process, so
// parallel tests that share a set do not build it side by side on two cores.
var imageOnce sync.Map // key -> func() error

// builtImages maps the tag of each image needImage made to its ID. Every
// moat home the tests make records them as its own (seedPins) before moat
// runs in it: moat rebuilds, from the engine's cache, an image under a tag
// its home did not record, and a fresh home per test would otherwise make
// each of the suite's first parallel runs build the same image again, side
// by side (classic builds of a 49 MB context each, which stalled a run for
// minutes in CI).
var builtImages sync.Map // tag -> image ID

// needImage makes sure the run image for specs exists, as moat would build
// it, and makes every moat home record it (builtImages), so that moat run
// reuses it. Tests that assert on moat's own "Building image" output must
// not use it.
func needImage(t *testing.T, specs ...string) {
	t.Helper()
	needImageOn(t, baseImage, specs...)
}

// needImageOn is needImage on another base image, as config.yaml's
// base_image names it.
func needImageOn(t *testing.T, base string, specs ...string) {
	t.Helper()
	key := base + ":" + strings.Join(specs, ",")
	f, _ := imageOnce.LoadOrStore(key, sync.OnceValue(func() error {
		set, err := deps.Resolve(specs)
		if err != nil {
			return err
		}
		ctx := context.Background()
		eng, err := runtime.NewDocker(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		// The plan moat's run makes (Manager.ensureImage): moat-sidecar is
		// the binary it puts in images, found beside moat.
		res, err := image.Ensure(ctx, eng, image.Plan{Base: base, Deps: set, Moat: moatBin + "-sidecar"}, image.Options{Labels: imageLabels()})
		if err == nil {
			builtImages.Store(res.Tag, res.ID)
		}
		return err
	}))
	if err := f.(func() error)(); err != nil {
		t.Fatalf("building the image for %v on %s: %v", specs, base, err)
	}
}

// imageLabels are the labels moat puts on the images it builds.
func imageLabels() map[string]string {
	return map[string]string{labels.Managed: "true", labels.Role: labels.RoleImage, labels.Version: "e2e"}
}

// TestRecipeChangeRebuilds checks, in process against the real engine, that
// an unchanged dependency set reuses its image and a changed install recipe
// builds a new one under a new tag.
func TestRecipeChangeRebuilds(t *testing.T) {
	t.Parallel()
	needImage(t, "jq")
	ctx := context.Background()
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	set, err := deps.Resolve([]string{"jq"})
	if err != nil {
		t.Fatal(err)
	}
	opts := image.Options{Labels: imageLabels()}
	first, err := image.Ensure(ctx, eng, image.Plan{Base: baseImage, Deps: set}, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := image.Ensure(ctx, eng, image.Plan{Base: baseImage, Deps: set}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Built || again.Tag != first.Tag {
		t.Errorf("second Ensure: got Built %v, tag %s; want Built false, tag %s", again.Built, again.Tag, first.Tag)
	}

	// The same dependency with a changed recipe: one more Debian package.
	changed := slices.Clone(set)
	changed[0].Packages = append(slices.Clone(set[0].Packages), "less")
	rebuilt, err := image.Ensure(ctx, eng, image.Plan{Base: baseImage, Deps: changed}, opts)
	// The jq image is shared with other tests and stays; this one is ours.
	t.Cleanup(func() {
		if rebuilt.Tag == "" {
			return
		}
		if _, err := docker(t, "rmi", rebuilt.Tag); err != nil {
			t.Errorf("removing the test's image: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rebuilt.Built || rebuilt.Tag == first.Tag {
		t.Errorf("Ensure after a recipe change: got Built %v, tag %s; want Built true, a tag other than %s", rebuilt.Built, rebuilt.Tag, first.Tag)
	}
	out, err := docker(t, "run", "--rm", "--entrypoint", "less", rebuilt.Tag, "--version")
	if err != nil || !strings.Contains(out, "less") {
		t.Errorf("the rebuilt image has no working less: %v\n%s", err, out)
	}
}

// TestBuildFailureNamesStepAndOutput checks, against the real engine, that a
// failing install step is reported with the step and the tail of its output,
// and that no image is left tagged.
func TestBuildFailureNamesStepAndOutput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	// A unique package name keeps the engine's cache from sharing layers
	// with other runs of this test.
	pkg := "moat-no-such-package-" + strings.ToLower(uniqueName(t))
	bogus := []deps.Dep{{Name: "bogus", Method: deps.MethodApt, Packages: []string{pkg}}}
	res, err := image.Ensure(ctx, eng, image.Plan{Base: baseImage, Deps: bogus}, image.Options{Labels: imageLabels()})
	var be *image.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a *image.BuildError", err)
	}
	if !strings.Contains(be.Step, "apt-get") {
		t.Errorf("failing step %q, want the apt-get step", be.Step)
	}
	if !strings.Contains(strings.Join(be.Output, "\n"), "Unable to locate package "+pkg) {
		t.Errorf("output tail %q lacks apt's reason", be.Output)
	}
	if _, err := eng.ImageID(ctx, res.Tag); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("image %s exists after a failed build (err %v)", res.Tag, err)
	}
}

// TestFreshHomeReusesNeededImage checks the harness itself: needImage
// builds the very image moat's run plans, and a fresh home reuses it. If
// the two plans drift apart, every parallel test's first run builds again
// (builtImages).
func TestFreshHomeReusesNeededImage(t *testing.T) {
	t.Parallel()
	needImage(t)
	e := newMoat(t)
	res := e.mustRun(0, "run", e.workspace(agentYAML("")), "--", "true")
	if strings.Contains(res.stderr, "Building image") {
		t.Errorf("a fresh home built the image needImage made:\n%s", res)
	}
}
