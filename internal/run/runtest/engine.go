// Package runtest owns a fake container engine for tests of the
// orchestrator and the commands: containers, images and logs in memory,
// with knobs to make steps fail.
package runtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
)

// Engine is an in-memory engine. Containers "run" until WaitContainer,
// which ends them with ExitCode.
type Engine struct {
	mu            sync.Mutex
	images        map[string]string // ref -> ID
	Containers    map[string]*Container
	nextID        int
	CreateErr     error                  // returned by CreateContainer when set
	StartErr      error                  // returned by StartContainer when set
	ExitCode      int                    // what WaitContainer returns
	Builds        int                    // how many images were built
	BuildRequests []runtime.BuildRequest // every build, in order
	// Stdin holds what each container received on its stdin, by ID.
	Stdin map[string][]byte
	// ProxyOutput is what a proxy sidecar prints when attached; the
	// default is its ready line.
	ProxyOutput string
	// BuildkitOutput is what a BuildKit sidecar prints when attached; the
	// default is buildkitd's line that it serves on moat's address.
	BuildkitOutput string
	// Images is what ListImages returns, whatever the selector.
	Images []runtime.ImageInfo
}

// Container is a fake container.
type Container struct {
	Info runtime.ContainerInfo
	Spec runtime.ContainerSpec
	Logs string // "TIMESTAMP text" lines, as the engine returns them with timestamps
}

// NewEngine returns an engine holding only the base image.
func NewEngine(baseImage string) *Engine {
	return &Engine{
		images:      map[string]string{baseImage: "sha256:base"},
		Containers:  map[string]*Container{},
		Stdin:       map[string][]byte{},
		ProxyOutput: egress.ReadyPrefix + "172.30.0.2:3128\n",
		BuildkitOutput: `time="2026-01-01T00:00:00Z" level=info msg="found 1 workers, default=\"w1\""` + "\n" +
			`time="2026-01-01T00:00:00Z" level=info msg="running server on 127.0.0.1:1234"` + "\n",
	}
}

func (f *Engine) ImageID(_ context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.images[ref]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%w: image %s", runtime.ErrNotFound, ref)
}

func (f *Engine) BuildImage(_ context.Context, req runtime.BuildRequest, _ func(runtime.BuildMessage)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Builds++
	f.BuildRequests = append(f.BuildRequests, req)
	f.images[req.Tag] = "sha256:built"
	return nil
}

func (f *Engine) CreateContainer(_ context.Context, spec runtime.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.CreateErr != nil {
		return "", f.CreateErr
	}
	f.nextID++
	id := fmt.Sprintf("c%d", f.nextID)
	f.Containers[id] = &Container{Spec: spec, Info: runtime.ContainerInfo{ID: id, Name: spec.Name, Labels: spec.Labels, State: "created"}}
	return id, nil
}

func (f *Engine) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.StartErr != nil {
		return f.StartErr
	}
	c := f.Containers[id]
	c.Info.State, c.Info.Running = "running", true
	return nil
}

// Exit ends a running container with code.
func (f *Engine) Exit(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.Containers[id]
	c.Info.State, c.Info.Running, c.Info.ExitCode = "exited", false, code
	c.Info.FinishedAt = time.Now()
}

func (f *Engine) WaitContainer(_ context.Context, id string) (int, error) {
	f.Exit(id, f.ExitCode)
	return f.ExitCode, nil
}

func (f *Engine) StopContainer(_ context.Context, id string, _ time.Duration) error {
	if _, ok := f.get(id); !ok {
		return runtime.ErrNotFound
	}
	f.Exit(id, 143)
	return nil
}

func (f *Engine) get(id string) (*Container, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.Containers[id]
	return c, ok
}

func (f *Engine) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Containers[id]; !ok {
		return runtime.ErrNotFound
	}
	delete(f.Containers, id)
	return nil
}

func (f *Engine) InspectContainer(_ context.Context, id string) (runtime.ContainerInfo, error) {
	c, ok := f.get(id)
	if !ok {
		return runtime.ContainerInfo{}, runtime.ErrNotFound
	}
	return c.Info, nil
}

// ListContainers honours one "key=value" label selector.
func (f *Engine) ListContainers(_ context.Context, label string) ([]runtime.ContainerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, value, _ := strings.Cut(label, "=")
	var out []runtime.ContainerInfo
	for _, c := range f.Containers {
		if label == "" || c.Info.Labels[key] == value {
			out = append(out, c.Info)
		}
	}
	return out, nil
}

func (f *Engine) ContainerLogs(_ context.Context, id string, _ runtime.LogOptions, stdout, _ io.Writer) error {
	c, ok := f.get(id)
	if !ok {
		return runtime.ErrNotFound
	}
	_, err := io.WriteString(stdout, c.Logs)
	return err
}

func (f *Engine) AttachContainer(_ context.Context, id string, _ runtime.AttachOptions) (runtime.Stream, error) {
	c, ok := f.get(id)
	if ok && c.Spec.Labels[labels.Role] == labels.RoleProxy {
		return &stream{out: f.ProxyOutput, f: f, id: id}, nil
	}
	if ok && c.Spec.Labels[labels.Role] == labels.RoleBuildkit {
		return &stream{out: f.BuildkitOutput, f: f, id: id}, nil
	}
	return &stream{out: "hello\n", f: f, id: id}, nil
}

// The fake has no networks or volumes, and lists the images in Images;
// removing them succeeds.
func (f *Engine) ListNetworks(context.Context, string) ([]runtime.ObjectInfo, error) { return nil, nil }
func (f *Engine) ListVolumes(context.Context, string) ([]runtime.ObjectInfo, error)  { return nil, nil }
func (f *Engine) ListImages(context.Context, string) ([]runtime.ImageInfo, error) {
	return f.Images, nil
}
func (f *Engine) RemoveNetwork(context.Context, string) error         { return nil }
func (f *Engine) RemoveVolume(context.Context, string) error          { return nil }
func (f *Engine) RemoveImage(context.Context, string) error           { return nil }
func (f *Engine) ResizeTTY(context.Context, string, uint, uint) error { return nil }

// stream is an attached fake container.
type stream struct {
	out string
	f   *Engine
	id  string
}

func (s *stream) Write(p []byte) (int, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.Stdin[s.id] = append(s.f.Stdin[s.id], p...)
	return len(p), nil
}
func (s *stream) Close() error      { return nil }
func (s *stream) CloseWrite() error { return nil }
func (s *stream) CopyOutput(stdout, _ io.Writer) error {
	_, err := io.WriteString(stdout, s.out)
	return err
}

// StaticBinary writes the smallest file that passes for a static Linux
// executable (an ELF header without program headers) into dir, for
// Manager.ProxyBinary in tests that never run it.
func StaticBinary(dir string) (string, error) {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(h[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], 0x3e) // x86-64
	binary.LittleEndian.PutUint32(h[20:], 1)    // EV_CURRENT
	binary.LittleEndian.PutUint16(h[52:], 64)   // header size
	binary.LittleEndian.PutUint16(h[54:], 56)   // program header size
	binary.LittleEndian.PutUint16(h[58:], 64)   // section header size
	path := filepath.Join(dir, "moat-static")
	return path, os.WriteFile(path, h, 0o755)
}

// AddImage makes ref present, as if pulled or loaded.
func (f *Engine) AddImage(ref string) {
	f.SetImage(ref, "sha256:"+ref)
}

// SetImage puts image id under ref, as 'docker tag' would.
func (f *Engine) SetImage(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = id
}

// StatusCommand and ProvideImageRemedy answer as the Docker adapter does:
// the orchestrator's tests check the hints Docker's users see.
func (f *Engine) StatusCommand() string { return (*runtime.Docker)(nil).StatusCommand() }

func (f *Engine) ProvideImageRemedy(ref string) string {
	return (*runtime.Docker)(nil).ProvideImageRemedy(ref)
}
