package image

import (
	"context"
	"errors"
	"fmt"
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
