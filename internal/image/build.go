// Package image owns run images: it renders the Dockerfile for a dependency
// set, computes the content hash over everything that shapes the image, and
// builds it through the engine when no image with that hash exists. It never
// prints; progress reaches the caller as Events.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/config"
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
	// Sources are the package mirrors the build downloads from.
	Sources Sources
	// Moat is the path of moat's static Linux binary, which an image with
	// docker:dind holds a copy of (NeedsMoat); unused otherwise. MoatSum
	// returns its hex SHA-256 (nil means FileSum): the binary is tens of
	// MB, and a caller can remember the sum of a file that did not change.
	Moat    string
	MoatSum func(path string) (string, error)
}

// Options change how Ensure works.
type Options struct {
	Rebuild bool              // build even if the image exists, without the engine's cache
	Labels  map[string]string // extra labels for the image
	OnEvent func(Event)       // progress; may be nil
	// Pins records the IDs of the images moat built and built on; nil
	// trusts tags (tests only).
	Pins Pins
	// Lock, if set, serialises builds of one tag between moat processes:
	// Ensure takes it before it builds and, holding it, looks the tag up
	// again, so runs started together build a new image once. It calls
	// waiting if another process holds it.
	Lock func(ctx context.Context, tag string, waiting func()) (unlock func(), err error)
}

// Pins is a record of the image ID moat saw under a reference. A tag can
// be moved by whoever controls the engine (an agent with docker:host can
// 'docker tag' anything as moat/run:<hash>): what moat reuses, or builds
// on, must be the image it recorded.
type Pins interface {
	Pinned(ref string) (id string, ok bool)
	Pin(ref, id string) error
}

// EventKind says what an Event reports.
type EventKind int

const (
	BuildStarted EventKind = iota // Text is the tag
	BuildWaiting                  // another moat process builds the image; Text is the tag
	StepStarted                   // Step/Steps and Text (the instruction)
	StepOutput                    // Text is one line of output
	BuildDone                     // Text is the tag
	BuildFailed                   // Text is the tag; the error follows from Ensure
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
	ID         string // the image under Tag that moat built or checked; use it, not Tag
	BaseID     string // the base image it is built on
	Hash       string
	Built      bool // false when an existing image was reused
	Dockerfile []byte
	Duration   time.Duration
	moatPath   string          // moat's binary, which the build context holds a copy of
	moatSum    string          // its hex SHA-256, part of the content hash
	init       []byte          // the init script the build context holds, if any
	project    *ProjectContext // a project's own context and Dockerfile, built as is
}

// Ensure returns the image for plan, building it only when no image with
// the same content hash exists (or when Rebuild is set). An unchanged plan
// costs two engine lookups and no network. With Pins, an image under the
// tag is reused only if it is the one moat recorded; any other is built
// again with the engine's cache (a build of moat's own layers costs a few
// cache lookups) and the result recorded. A base image whose ID changed
// since moat first built on it is refused.
func Ensure(ctx context.Context, eng Engine, p Plan, opts Options) (Result, error) {
	baseID, err := baseImageID(ctx, eng, p.Base, opts.Pins)
	if err != nil {
		return Result{}, err
	}
	df := Dockerfile(p.Base, p.Deps, p.Sources)
	var moatSum string
	if NeedsMoat(p.Deps) {
		if moatSum, err = moatSumOf(p.Moat, p.MoatSum); err != nil {
			return Result{}, err
		}
	}
	hash := contentHash(df, baseID, InitScript, moatSum)
	res := Result{Tag: Tag(hash), Hash: hash, Dockerfile: df, BaseID: baseID, moatPath: p.Moat, moatSum: moatSum, init: InitScript}
	return ensureTagged(ctx, eng, res, opts)
}

// moatSumOf returns the SHA-256 of moat's binary at path, through sumOf
// if not nil.
func moatSumOf(path string, sumOf func(string) (string, error)) (string, error) {
	if path == "" {
		return "", &MoatBinaryError{}
	}
	if sumOf == nil {
		sumOf = FileSum
	}
	sum, err := sumOf(path)
	if err != nil {
		return "", &MoatBinaryError{Path: path, Err: err}
	}
	return sum, nil
}

// ensureTagged returns res with the ID of the image under res.Tag, built
// if there is none (or opts.Rebuild), or if it is not the one this moat
// home recorded.
func ensureTagged(ctx context.Context, eng Engine, res Result, opts Options) (Result, error) {
	if !opts.Rebuild {
		if found, ok, err := reusable(ctx, eng, res, opts); ok || err != nil {
			return found, err
		}
	}
	if opts.Lock != nil {
		unlock, err := opts.Lock(ctx, res.Tag, func() { emitter(opts)(Event{Kind: BuildWaiting, Text: res.Tag}) })
		if err != nil {
			return res, err
		}
		defer unlock()
		if !opts.Rebuild {
			// The process that held the lock may have built it.
			if found, ok, err := reusable(ctx, eng, res, opts); ok || err != nil {
				return found, err
			}
		}
	}
	start := time.Now()
	id, err := build(ctx, eng, res, opts)
	if err != nil {
		return res, err
	}
	if opts.Pins != nil {
		if err := opts.Pins.Pin(res.Tag, id); err != nil {
			return res, fmt.Errorf("recording image %s: %w", res.Tag, err)
		}
	}
	res.ID, res.Built, res.Duration = id, true, time.Since(start)
	return res, nil
}

// reusable looks res.Tag up: ok if it holds the image this moat home
// recorded (or any, without Pins).
func reusable(ctx context.Context, eng Engine, res Result, opts Options) (Result, bool, error) {
	id, err := eng.ImageID(ctx, res.Tag)
	switch {
	case err == nil && (opts.Pins == nil || pinnedTo(opts.Pins, res.Tag, id)):
		res.ID = id
		return res, true, nil
	case err == nil:
		// Not an image this moat home recorded under the tag: planted,
		// or built by another moat home. Build again, with the engine's
		// cache: moat's own layers give moat's image back (the same ID
		// another home recorded, so homes sharing an engine agree), and
		// the tag is rewritten to it. A build without cache would give
		// every build a new ID and have homes rebuild each other's
		// images forever; poisoning the cache itself takes control of
		// the engine (docker:host), which is host root already.
	case !errors.Is(err, runtime.ErrNotFound):
		return res, false, fmt.Errorf("inspecting image %s: %w", res.Tag, err)
	}
	return res, false, nil
}

// emitter returns opts.OnEvent, or a function that drops events.
func emitter(opts Options) func(Event) {
	if opts.OnEvent == nil {
		return func(Event) {}
	}
	return opts.OnEvent
}

// baseImageID looks the base image up and, with pins, checks it is the
// image moat first built on under that reference (recording it the first
// time). A digest or an image ID needs no record: it cannot move.
func baseImageID(ctx context.Context, eng Engine, base string, pins Pins) (string, error) {
	id, err := eng.ImageID(ctx, base)
	if errors.Is(err, runtime.ErrNotFound) {
		return "", &MissingBaseError{Base: base}
	}
	if err != nil {
		return "", fmt.Errorf("inspecting base image %s: %w", base, err)
	}
	if pins == nil || config.PinnedImage(base) {
		return id, nil
	}
	was, ok := pins.Pinned(base)
	switch {
	case !ok:
		if err := pins.Pin(base, id); err != nil {
			return "", fmt.Errorf("recording base image %s: %w", base, err)
		}
	case was != id:
		return "", &BaseChangedError{Base: base, Was: was, Now: id}
	}
	return id, nil
}

// BaseID returns the ID of the base image ref, checked as Ensure checks
// a plan's base: recorded the first time, refused if it changed since.
func BaseID(ctx context.Context, eng Engine, ref string, pins Pins) (string, error) {
	return baseImageID(ctx, eng, ref, pins)
}

func pinnedTo(pins Pins, ref, id string) bool {
	was, ok := pins.Pinned(ref)
	return ok && was == id
}

// build builds res and returns the new image's ID, as the engine reported
// it at the end of the build (looked up by tag only if it did not).
func build(ctx context.Context, eng Engine, res Result, opts Options) (string, error) {
	emit := emitter(opts)
	var moat []byte
	if res.moatSum != "" {
		var err error
		if moat, err = os.ReadFile(res.moatPath); err != nil {
			return "", &MoatBinaryError{Path: res.moatPath, Err: err}
		}
		if sum := sha256.Sum256(moat); hex.EncodeToString(sum[:]) != res.moatSum {
			return "", &MoatBinaryError{Path: res.moatPath, Err: errors.New("it changed while the image was being built; run again")}
		}
	}
	var buildCtx io.Reader
	dockerfile := "Dockerfile"
	if res.project != nil {
		buildCtx, dockerfile = bytes.NewReader(res.project.Tar), res.project.Dockerfile
	} else {
		packed, err := contextTar(res.Dockerfile, res.init, moat)
		if err != nil {
			return "", err
		}
		buildCtx = packed
	}
	labels := map[string]string{}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	emit(Event{Kind: BuildStarted, Text: res.Tag})
	tr := &stepTracker{emit: emit}
	var id string
	err := eng.BuildImage(ctx, runtime.BuildRequest{
		Context: buildCtx, Dockerfile: dockerfile, Tag: res.Tag, Labels: labels, NoCache: opts.Rebuild,
	}, func(m runtime.BuildMessage) {
		if m.ImageID != "" {
			id = m.ImageID
		}
		tr.onMessage(m)
	})
	if err != nil {
		emit(Event{Kind: BuildFailed, Text: res.Tag})
		if ctx.Err() != nil {
			return "", fmt.Errorf("building image %s: %w", res.Tag, ctx.Err())
		}
		be := tr.failure(res.Tag, err)
		if res.project == nil {
			be.Dockerfile = res.Dockerfile
		}
		return "", be
	}
	if id == "" {
		if id, err = eng.ImageID(ctx, res.Tag); err != nil {
			return "", fmt.Errorf("inspecting the image just built, %s: %w", res.Tag, err)
		}
	}
	emit(Event{Kind: BuildDone, Text: res.Tag})
	return id, nil
}

// contextTar packs the build context: the Dockerfile and, if given, the
// init script and moat's binary.
func contextTar(dockerfile, init, moat []byte) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}}
	if init != nil {
		files = append(files, struct {
			name string
			mode int64
			data []byte
		}{InitFile, 0o755, init})
	}
	if moat != nil {
		files = append(files, struct {
			name string
			mode int64
			data []byte
		}{MoatFile, 0o755, moat})
	}
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

// MoatBinaryError reports that an image that holds a copy of moat's
// binary (docker:dind) cannot be built because the binary cannot be read.
type MoatBinaryError struct {
	Path string
	Err  error
}

func (e *MoatBinaryError) Error() string {
	if e.Path == "" {
		return "an image with docker:dind holds a copy of moat's in-container commands (moat-sidecar, or moat itself), and none was given"
	}
	return fmt.Sprintf("an image with docker:dind holds a copy of moat's in-container commands, and %s cannot be read: %v", e.Path, e.Err)
}

func (e *MoatBinaryError) Hint() string { return StaticBuildHint }

// StaticBuildHint is the remedy for a binary moat cannot run or copy into
// a container.
const StaticBuildHint = "Use static Linux builds of moat and moat-sidecar (make build makes both), or set MOAT_PROXY_BINARY to one."

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

// BaseChangedError reports a base image reference that now names another
// image than the one moat first built on.
type BaseChangedError struct{ Base, Was, Now string }

func (e *BaseChangedError) Error() string {
	return fmt.Sprintf("base image %s is now %s, not %s, the image moat built on before: something re-tagged it", e.Base, short(e.Now), short(e.Was))
}

// Hint says how to accept an image the user replaced on purpose.
func (e *BaseChangedError) Hint() string {
	return fmt.Sprintf("If you replaced it yourself (docker pull, docker import), pin it in ~/.moat/config.yaml:\n"+
		"  base_image: %s\nIf you did not, an agent with access to the engine may have: check 'docker image inspect %s'.", e.Now, e.Base)
}

func short(id string) string {
	if len(id) > 19 {
		return id[:19]
	}
	return id
}

// BuildError is a failed build: the step that failed and its last output.
type BuildError struct {
	Tag    string
	Step   string // `3/7 "RUN apt-get ..."`
	Output []string
	Err    string
	// Dockerfile is moat's generated Dockerfile that failed (nil for a
	// project's own); KeptAt is where the caller saved it, if it did.
	Dockerfile []byte
	KeptAt     string
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
	if e.KeptAt != "" {
		if len(e.Output) == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\nThe Dockerfile that failed is kept in %s\n", e.KeptAt)
	}
	return strings.TrimRight(b.String(), "\n")
}

// FileSum returns the hex SHA-256 of the file at path.
func FileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
