// Package image owns run images: it renders the Dockerfile for a dependency
// set, computes the content hash over everything that shapes the image, and
// builds it through the engine when no image with that hash exists. It never
// prints; progress reaches the caller as Events.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/runtime"
)

// Engine is what Ensure needs from a container engine.
type Engine interface {
	ImageID(ctx context.Context, ref string) (string, error)
	BuildImage(ctx context.Context, req runtime.BuildRequest, onMsg func(runtime.BuildMessage)) error
}

// Plan is what an image is made from.
type Plan struct {
	Base string     // base image reference, present in the engine
	Deps []deps.Dep // resolved and sorted
}

// Options change how Ensure works.
type Options struct {
	Rebuild bool              // build even if the image exists, without the engine's cache
	Labels  map[string]string // extra labels for the image
	OnEvent func(Event)       // progress; may be nil
}

// EventKind says what an Event reports.
type EventKind int

const (
	BuildStarted EventKind = iota // Text is the tag
	StepStarted                   // Step/Steps and Text (the instruction)
	StepOutput                    // Text is one line of output
	BuildDone                     // Text is the tag
)

// Event is build progress.
type Event struct {
	Kind        EventKind
	Step, Steps int
	Text        string
}

// Result describes the image a run uses.
type Result struct {
	Tag        string
	Hash       string
	Built      bool // false when an existing image was reused
	Dockerfile []byte
	Duration   time.Duration
}

// Ensure returns the image for plan, building it only when no image with
// the same content hash exists (or when Rebuild is set). An unchanged plan
// costs two engine lookups and no network.
func Ensure(ctx context.Context, eng Engine, p Plan, opts Options) (Result, error) {
	baseID, err := eng.ImageID(ctx, p.Base)
	if errors.Is(err, runtime.ErrNotFound) {
		return Result{}, &MissingBaseError{Base: p.Base}
	}
	if err != nil {
		return Result{}, fmt.Errorf("inspecting base image %s: %w", p.Base, err)
	}
	df := Dockerfile(p.Base, p.Deps)
	hash := contentHash(df, baseID, InitScript)
	res := Result{Tag: Tag(hash), Hash: hash, Dockerfile: df}
	if !opts.Rebuild {
		if _, err := eng.ImageID(ctx, res.Tag); err == nil {
			return res, nil
		} else if !errors.Is(err, runtime.ErrNotFound) {
			return res, fmt.Errorf("inspecting image %s: %w", res.Tag, err)
		}
	}
	start := time.Now()
	if err := build(ctx, eng, res, opts); err != nil {
		return res, err
	}
	res.Built, res.Duration = true, time.Since(start)
	return res, nil
}

func build(ctx context.Context, eng Engine, res Result, opts Options) error {
	emit := opts.OnEvent
	if emit == nil {
		emit = func(Event) {}
	}
	buildCtx, err := contextTar(res.Dockerfile, InitScript)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	emit(Event{Kind: BuildStarted, Text: res.Tag})
	tr := &stepTracker{emit: emit}
	err = eng.BuildImage(ctx, runtime.BuildRequest{
		Context: buildCtx, Dockerfile: "Dockerfile", Tag: res.Tag, Labels: labels, NoCache: opts.Rebuild,
	}, tr.onMessage)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("building image %s: %w", res.Tag, ctx.Err())
		}
		return tr.failure(res.Tag, err)
	}
	emit(Event{Kind: BuildDone, Text: res.Tag})
	return nil
}

// contextTar packs the build context: the Dockerfile and the init script.
func contextTar(dockerfile, init []byte) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {InitFile, 0o755, init}}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// MissingBaseError reports that the base image is not in the engine.
type MissingBaseError struct{ Base string }

func (e *MissingBaseError) Error() string {
	return fmt.Sprintf("base image %s is not in the engine's image store", e.Base)
}

// Hint says how to provide the base image.
func (e *MissingBaseError) Hint() string {
	return fmt.Sprintf("Pull it ('docker pull %s') or, where no registry is reachable,\n"+
		"make it locally with 'scripts/testbed.sh' (debootstrap + docker import).", e.Base)
}

// BuildError is a failed build: the step that failed and its last output.
type BuildError struct {
	Tag    string
	Step   string // "3/7 RUN apt-get ..."
	Output []string
	Err    string
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "building image %s: ", e.Tag)
	if e.Step != "" {
		fmt.Fprintf(&b, "step %s failed: ", e.Step)
	}
	b.WriteString(strings.TrimSpace(e.Err))
	if len(e.Output) > 0 {
		b.WriteString("\n\nlast output of the failing step:\n")
		for _, l := range e.Output {
			b.WriteString("  " + l + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
