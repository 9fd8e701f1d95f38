package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/runtime"
)

type fakeEngine struct {
	images map[string]string
	builds []runtime.BuildRequest
}

func (f *fakeEngine) ImageID(_ context.Context, ref string) (string, error) {
	if id, ok := f.images[ref]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%w: %s", runtime.ErrNotFound, ref)
}

func (f *fakeEngine) BuildImage(_ context.Context, req runtime.BuildRequest, _ func(runtime.BuildMessage)) error {
	f.builds = append(f.builds, req)
	f.images[req.Tag] = "sha256:new"
	return nil
}

func TestEnsureBuildsOnlyWhenInputsChange(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{images: map[string]string{"base": "sha256:b1"}}
	set, err := deps.Resolve([]string{"jq"})
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan{Base: "base", Deps: set}
	first, err := Ensure(ctx, eng, plan, Options{})
	if err != nil || !first.Built {
		t.Fatalf("first Ensure: built=%v err=%v, want a build", first.Built, err)
	}
	again, err := Ensure(ctx, eng, plan, Options{})
	if err != nil || again.Built || again.Tag != first.Tag {
		t.Fatalf("unchanged Ensure: built=%v tag=%s err=%v, want reuse of %s", again.Built, again.Tag, err, first.Tag)
	}
	changed := append([]deps.Dep(nil), set...)
	changed[0].Packages = append(append([]string(nil), changed[0].Packages...), "less")
	recipe, err := Ensure(ctx, eng, Plan{Base: "base", Deps: changed}, Options{})
	if err != nil || !recipe.Built || recipe.Tag == first.Tag {
		t.Fatalf("changed recipe: built=%v tag=%s, want a new build", recipe.Built, recipe.Tag)
	}
	eng.images["base"] = "sha256:b2"
	rebased, _ := Ensure(ctx, eng, plan, Options{})
	if !rebased.Built || rebased.Tag == first.Tag {
		t.Fatalf("changed base image: built=%v, want a new build", rebased.Built)
	}
	forced, _ := Ensure(ctx, eng, plan, Options{Rebuild: true})
	if !forced.Built || !eng.builds[len(eng.builds)-1].NoCache {
		t.Fatal("--rebuild did not build without cache")
	}
}

func TestEnsureMissingBase(t *testing.T) {
	_, err := Ensure(context.Background(), &fakeEngine{images: map[string]string{}}, Plan{Base: "debian:bookworm-slim"}, Options{})
	var mb *MissingBaseError
	if !errors.As(err, &mb) || mb.Hint() == "" {
		t.Fatalf("got %v, want MissingBaseError with a remedy", err)
	}
}

// memPins is an in-memory record of image IDs.
type memPins map[string]string

func (p memPins) Pinned(ref string) (string, bool) { id, ok := p[ref]; return id, ok }
func (p memPins) Pin(ref, id string) error         { p[ref] = id; return nil }

// An image planted under a run image's tag (anyone with the engine can
// 'docker tag' anything as moat/run:<hash>) is never reused: only the ID
// moat recorded when it built the tag is.
func TestEnsureReusesOnlyTheRecordedImage(t *testing.T) {
	ctx := context.Background()
	set, err := deps.Resolve([]string{"jq"})
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan{Base: "debian:bookworm-slim", Deps: set}
	tests := []struct {
		name      string
		planted   bool // an image the record does not know is under the tag
		wantBuild bool
	}{
		{name: "recorded image is reused", wantBuild: false},
		{name: "planted image is built again", planted: true, wantBuild: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{images: map[string]string{"debian:bookworm-slim": "sha256:b1"}}
			pins := memPins{}
			first, err := Ensure(ctx, eng, plan, Options{Pins: pins})
			if err != nil || !first.Built || first.ID != "sha256:new" || pins[first.Tag] != "sha256:new" {
				t.Fatalf("first Ensure: %+v, %v, pins %v; want a build recorded as sha256:new", first, err, pins)
			}
			if tt.planted {
				eng.images[first.Tag] = "sha256:agent"
			}
			again, err := Ensure(ctx, eng, plan, Options{Pins: pins})
			if err != nil || again.Built != tt.wantBuild {
				t.Fatalf("second Ensure: built=%v err=%v, want built=%v", again.Built, err, tt.wantBuild)
			}
			if again.ID != "sha256:new" {
				t.Fatalf("second Ensure uses %s, want the recorded sha256:new", again.ID)
			}
		})
	}
}

// An image this moat home has no record of (another home built it, or it
// was planted) is built again with the engine's cache, and what that build
// made is recorded.
func TestEnsureBuildsAnUnrecordedImageWithCache(t *testing.T) {
	ctx := context.Background()
	set, err := deps.Resolve([]string{"jq"})
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan{Base: "debian:bookworm-slim", Deps: set}
	eng := &fakeEngine{images: map[string]string{"debian:bookworm-slim": "sha256:b1"}}
	first, err := Ensure(ctx, eng, plan, Options{Pins: memPins{}})
	if err != nil {
		t.Fatal(err)
	}
	eng.images[first.Tag] = "sha256:elsewhere"
	pins := memPins{"debian:bookworm-slim": "sha256:b1"}
	again, err := Ensure(ctx, eng, plan, Options{Pins: pins})
	if err != nil || !again.Built || eng.builds[len(eng.builds)-1].NoCache {
		t.Fatalf("got built=%v err=%v nocache=%v, want a build with the cache", again.Built, err, eng.builds[len(eng.builds)-1].NoCache)
	}
	if pins[again.Tag] != again.ID {
		t.Fatalf("pins %v: the build is not recorded", pins)
	}
}

// The base image is resolved by tag, which whoever controls the engine
// can move: once moat has built on it, another image under that tag is
// refused, not built on.
func TestEnsureRefusesAMovedBase(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{images: map[string]string{"debian:bookworm-slim": "sha256:b1"}}
	pins := memPins{}
	if _, err := Ensure(ctx, eng, Plan{Base: "debian:bookworm-slim"}, Options{Pins: pins}); err != nil {
		t.Fatal(err)
	}
	eng.images["debian:bookworm-slim"] = "sha256:agent"
	builds := len(eng.builds)
	_, err := Ensure(ctx, eng, Plan{Base: "debian:bookworm-slim"}, Options{Pins: pins})
	var bc *BaseChangedError
	if !errors.As(err, &bc) || bc.Was != "sha256:b1" || bc.Now != "sha256:agent" || bc.Hint() == "" {
		t.Fatalf("got %v, want a BaseChangedError from sha256:b1 to sha256:agent with a remedy", err)
	}
	if len(eng.builds) != builds {
		t.Fatal("built on the moved base image")
	}
}

// TestEnsureMoatCopy checks the image of a docker:dind set: it needs moat's
// binary, holds it in its build context, and is rebuilt when the binary
// changes; other sets neither need nor hold it.
func TestEnsureMoatCopy(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{images: map[string]string{"base": "sha256:b1"}}
	dind, err := deps.Resolve([]string{"docker:dind"})
	if err != nil {
		t.Fatal(err)
	}
	var me *MoatBinaryError
	if _, err := Ensure(ctx, eng, Plan{Base: "base", Deps: dind}, Options{}); !errors.As(err, &me) {
		t.Fatalf("docker:dind without moat's binary: %v, want a MoatBinaryError", err)
	}
	if _, err := Ensure(ctx, eng, Plan{Base: "base", Deps: dind, Moat: filepath.Join(t.TempDir(), "none")}, Options{}); !errors.As(err, &me) {
		t.Fatalf("docker:dind with a missing binary: %v, want a MoatBinaryError", err)
	}
	bin := filepath.Join(t.TempDir(), "moat")
	os.WriteFile(bin, []byte("moat v1"), 0o755)
	first, err := Ensure(ctx, eng, Plan{Base: "base", Deps: dind, Moat: bin}, Options{})
	if err != nil || !first.Built {
		t.Fatalf("first Ensure: built=%v err=%v, want a build", first.Built, err)
	}
	if got := contextFiles(t, eng.builds[len(eng.builds)-1]); got[MoatFile] != "moat v1" {
		t.Errorf("the build context holds %q as %s, want moat's binary", got[MoatFile], MoatFile)
	}
	os.WriteFile(bin, []byte("moat v2"), 0o755)
	second, err := Ensure(ctx, eng, Plan{Base: "base", Deps: dind, Moat: bin}, Options{})
	if err != nil || !second.Built || second.Tag == first.Tag {
		t.Fatalf("changed binary: built=%v tag=%s err=%v, want a new build", second.Built, second.Tag, err)
	}
	jq, _ := deps.Resolve([]string{"jq"})
	if _, err := Ensure(ctx, eng, Plan{Base: "base", Deps: jq}, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := contextFiles(t, eng.builds[len(eng.builds)-1]); got[MoatFile] != "" {
		t.Errorf("an image without docker:dind holds moat's binary")
	}
}

// contextFiles reads a build request's context.
func contextFiles(t *testing.T, req runtime.BuildRequest) map[string]string {
	t.Helper()
	files := map[string]string{}
	tr := tar.NewReader(req.Context)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = string(b)
	}
}

// TestEnsureHelper checks the helper image: moat's binary added to an
// image named by ID, built once per (image, binary), rebuilt when either
// changes or the tag holds an image this home did not record, and its
// context holds the binary and the Dockerfile only.
func TestEnsureHelper(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{images: map[string]string{}}
	pins := memPins{}
	bin := filepath.Join(t.TempDir(), "moat")
	os.WriteFile(bin, []byte("moat v1"), 0o755)
	plan := HelperPlan{BaseID: "sha256:bk1", Path: "/usr/local/lib/x/moat", Moat: bin}
	first, err := EnsureHelper(ctx, eng, plan, Options{Pins: pins})
	if err != nil || !first.Built || !strings.HasPrefix(first.Tag, HelperRepository+":") {
		t.Fatalf("first: built=%v tag=%s err=%v, want a build under %s", first.Built, first.Tag, err, HelperRepository)
	}
	got := contextFiles(t, eng.builds[0])
	if len(got) != 2 || got[MoatFile] != "moat v1" || !strings.Contains(got["Dockerfile"], "\nFROM sha256:bk1\n") ||
		!strings.Contains(got["Dockerfile"], "\nCOPY moat /usr/local/lib/x/moat\n") {
		t.Fatalf("build context %q", got)
	}
	if again, err := EnsureHelper(ctx, eng, plan, Options{Pins: pins}); err != nil || again.Built || again.ID != first.ID {
		t.Fatalf("unchanged: built=%v id=%s err=%v, want the recorded image reused", again.Built, again.ID, err)
	}
	eng.images[first.Tag] = "sha256:planted"
	if again, err := EnsureHelper(ctx, eng, plan, Options{Pins: pins}); err != nil || !again.Built {
		t.Fatalf("planted tag: built=%v err=%v, want a build", again.Built, err)
	}
	other := plan
	other.BaseID = "sha256:bk2"
	if res, err := EnsureHelper(ctx, eng, other, Options{Pins: pins}); err != nil || !res.Built || res.Tag == first.Tag {
		t.Fatalf("another base: built=%v tag=%s err=%v, want a new image", res.Built, res.Tag, err)
	}
	os.WriteFile(bin, []byte("moat v2"), 0o755)
	if res, err := EnsureHelper(ctx, eng, plan, Options{Pins: pins}); err != nil || !res.Built || res.Tag == first.Tag {
		t.Fatalf("another binary: built=%v tag=%s err=%v, want a new image", res.Built, res.Tag, err)
	}
	for _, bad := range []HelperPlan{{BaseID: "sha256:x\nRUN id", Path: "/m", Moat: bin}, {BaseID: "", Path: "/m", Moat: bin}, {BaseID: "sha256:x", Path: "m", Moat: bin}} {
		if _, err := EnsureHelper(ctx, eng, bad, Options{}); err == nil {
			t.Errorf("EnsureHelper(%q, %q) built", bad.BaseID, bad.Path)
		}
	}
}

// TestEnsureWaitsForAnotherBuild: a run that finds another moat process
// building its image waits, says so, and reuses what that process built.
func TestEnsureWaitsForAnotherBuild(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{images: map[string]string{"base": "sha256:b1"}}
	pins := memPins{}
	set, _ := deps.Resolve([]string{"jq"})
	var events []EventKind
	lock := func(_ context.Context, tag string, waiting func()) (func(), error) {
		waiting()
		// Meanwhile the other process built and recorded the image.
		eng.images[tag], pins[tag] = "sha256:theirs", "sha256:theirs"
		return func() {}, nil
	}
	res, err := Ensure(ctx, eng, Plan{Base: "base", Deps: set}, Options{Pins: pins, Lock: lock, OnEvent: func(e Event) { events = append(events, e.Kind) }})
	if err != nil || res.Built || res.ID != "sha256:theirs" || len(eng.builds) != 0 {
		t.Fatalf("built=%v id=%s builds=%d err=%v, want the other process's image reused", res.Built, res.ID, len(eng.builds), err)
	}
	if len(events) != 1 || events[0] != BuildWaiting {
		t.Fatalf("events %v, want BuildWaiting only", events)
	}
	// The lock is taken only when the image is missing, and a failed wait
	// fails the run.
	if _, err := Ensure(ctx, eng, Plan{Base: "base", Deps: set}, Options{Pins: pins, Lock: func(context.Context, string, func()) (func(), error) {
		t.Fatal("locked for an image that exists")
		return nil, nil
	}}); err != nil {
		t.Fatal(err)
	}
	other, _ := deps.Resolve([]string{"make"})
	stop := errors.New("interrupted")
	if _, err := Ensure(ctx, eng, Plan{Base: "base", Deps: other}, Options{Pins: pins, Lock: func(context.Context, string, func()) (func(), error) {
		return nil, stop
	}}); !errors.Is(err, stop) || len(eng.builds) != 0 {
		t.Fatalf("got %v after %d builds, want the lock's error and no build", err, len(eng.builds))
	}
}
