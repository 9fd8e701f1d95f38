package run

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/runtime"
)

// fakeEngine embeds Engine and overrides only what the tests use, through
// state kept in memory. Calling anything else panics, which shows up as a
// failing test.
type fakeEngine struct {
	Engine
	mu         sync.Mutex
	images     map[string]string // ref -> ID
	containers map[string]*fakeContainer
	nextID     int
	createErr  error
	startErr   error
	exitCode   int
	builds     int
}

type fakeContainer struct {
	info runtime.ContainerInfo
	spec runtime.ContainerSpec
	logs string
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		images:     map[string]string{DefaultBaseImage: "sha256:base"},
		containers: map[string]*fakeContainer{},
	}
}

func (f *fakeEngine) ImageID(_ context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.images[ref]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%w: image %s", runtime.ErrNotFound, ref)
}

func (f *fakeEngine) BuildImage(_ context.Context, req runtime.BuildRequest, _ func(runtime.BuildMessage)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.builds++
	f.images[req.Tag] = "sha256:built"
	return nil
}

func (f *fakeEngine) CreateContainer(_ context.Context, spec runtime.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return "", f.createErr
	}
	f.nextID++
	id := fmt.Sprintf("c%d", f.nextID)
	f.containers[id] = &fakeContainer{spec: spec, info: runtime.ContainerInfo{ID: id, Labels: spec.Labels, State: "created"}}
	return id, nil
}

func (f *fakeEngine) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return f.startErr
	}
	c := f.containers[id]
	c.info.State, c.info.Running = "running", true
	return nil
}

// exit ends a running container with code.
func (f *fakeEngine) exit(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.info.State, c.info.Running, c.info.ExitCode = "exited", false, code
	c.info.FinishedAt = time.Now()
}

func (f *fakeEngine) WaitContainer(_ context.Context, id string) (int, error) {
	f.exit(id, f.exitCode)
	return f.exitCode, nil
}

func (f *fakeEngine) StopContainer(_ context.Context, id string, _ time.Duration) error {
	if _, ok := f.get(id); !ok {
		return runtime.ErrNotFound
	}
	f.exit(id, 143)
	return nil
}

func (f *fakeEngine) get(id string) (*fakeContainer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	return c, ok
}

func (f *fakeEngine) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[id]; !ok {
		return runtime.ErrNotFound
	}
	delete(f.containers, id)
	return nil
}

func (f *fakeEngine) InspectContainer(_ context.Context, id string) (runtime.ContainerInfo, error) {
	c, ok := f.get(id)
	if !ok {
		return runtime.ContainerInfo{}, runtime.ErrNotFound
	}
	return c.info, nil
}

func (f *fakeEngine) ListContainers(_ context.Context, _ string) ([]runtime.ContainerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.ContainerInfo
	for _, c := range f.containers {
		out = append(out, c.info)
	}
	return out, nil
}

func (f *fakeEngine) ContainerLogs(_ context.Context, id string, _ runtime.LogOptions, stdout, _ io.Writer) error {
	c, ok := f.get(id)
	if !ok {
		return runtime.ErrNotFound
	}
	_, err := io.WriteString(stdout, c.logs)
	return err
}

func (f *fakeEngine) AttachContainer(_ context.Context, id string, _ runtime.AttachOptions) (runtime.Stream, error) {
	return fakeStream{out: "hello\n"}, nil
}

func (f *fakeEngine) ListNetworks(context.Context, string) ([]runtime.ObjectInfo, error) {
	return nil, nil
}
func (f *fakeEngine) ListVolumes(context.Context, string) ([]runtime.ObjectInfo, error) {
	return nil, nil
}
func (f *fakeEngine) ListImages(context.Context, string) ([]runtime.ImageInfo, error) {
	return nil, nil
}

type fakeStream struct{ out string }

func (s fakeStream) Write(p []byte) (int, error) { return len(p), nil }
func (s fakeStream) Close() error                { return nil }
func (s fakeStream) CloseWrite() error           { return nil }
func (s fakeStream) CopyOutput(stdout, _ io.Writer) error {
	_, err := io.WriteString(stdout, s.out)
	return err
}
