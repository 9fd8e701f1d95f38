// Package run is moat's orchestrator: it turns a workspace and its
// agent.yaml into a run (image, container, record), drives the run's
// lifecycle (attach, wait, stop, destroy), reconciles run records with what
// the engine really has, and cleans up. It declares the small engine
// interfaces it consumes; the CLI wires concrete engines in.
package run

import (
	"context"
	"io"
	"time"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// containerEngine is what a run needs to manage its containers.
type containerEngine interface {
	CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	WaitContainer(ctx context.Context, id string) (int, error)
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	InspectContainer(ctx context.Context, id string) (runtime.ContainerInfo, error)
	ListContainers(ctx context.Context, label string) ([]runtime.ContainerInfo, error)
	ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error
	AttachContainer(ctx context.Context, id string, opts runtime.AttachOptions) (runtime.Stream, error)
	ResizeTTY(ctx context.Context, id string, height, width uint) error
}

// imageEngine is what a run needs to build, list and remove images.
type imageEngine interface {
	image.Engine
	ListImages(ctx context.Context, label string) ([]runtime.ImageInfo, error)
	RemoveImage(ctx context.Context, ref string) error
}

// objectEngine finds and removes the networks and volumes moat created.
type objectEngine interface {
	ListNetworks(ctx context.Context, label string) ([]runtime.ObjectInfo, error)
	RemoveNetwork(ctx context.Context, id string) error
	ListVolumes(ctx context.Context, label string) ([]runtime.ObjectInfo, error)
	RemoveVolume(ctx context.Context, name string) error
}

// Engine is everything the orchestrator uses from a container engine.
type Engine interface {
	containerEngine
	imageEngine
	objectEngine
}

// DefaultBaseImage is the image run images are built on.
const DefaultBaseImage = "debian:bookworm-slim"

// StopGrace is how long a stopped command gets between SIGTERM and
// SIGKILL unless the user says otherwise ('moat stop -t').
const StopGrace = 10 * time.Second

// cleanupTimeout bounds undo work that runs after the caller's context ended.
const cleanupTimeout = 30 * time.Second

// Manager runs and manages runs.
type Manager struct {
	Engine    Engine
	Store     *state.Store
	Version   string // moat's version, recorded on runs and labels
	BaseImage string // "" means DefaultBaseImage
	// Mirrors are the user's package mirrors (config.yaml) that image
	// builds download from; empty means the public registries.
	Mirrors image.Sources
	Now     func() time.Time     // nil means time.Now
	Warnf   func(string, ...any) // warnings for the user; nil drops them
	OnBuild func(image.Event)    // image build progress; nil drops it
	// SigningKey returns the key that signs audit checkpoints; nil turns
	// the audit log off (unit tests).
	SigningKey SigningKeyFunc
	// Grants looks up the credentials runs ask for; nil means none exist.
	Grants GrantSource
	// ProxyBinary is a static Linux moat binary the proxy sidecar runs
	// (the CLI's own executable); CADir holds the user's proxy CA ("" means
	// $MOAT_HOME/proxy).
	ProxyBinary string
	CADir       string
	// BuildkitImage is the user's default BuildKit sidecar image
	// (config.yaml); "" means DefaultBuildkitImage.
	BuildkitImage string
	// Limits are the user's limits (config.yaml, at ConfigPath) on each
	// run and on what agent.yaml may ask for; a zero field is moat's
	// default (limits.go).
	Limits     config.Limits
	ConfigPath string
	// AskApproval asks the user to approve what a workspace's agent.yaml
	// asks for beyond what they approved before; nil (no terminal) makes
	// such a run fail before anything is created.
	AskApproval Approver
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) warnf(format string, args ...any) {
	if m.Warnf != nil {
		m.Warnf(format, args...)
	}
}

func (m *Manager) baseImage() string {
	if m.BaseImage != "" {
		return m.BaseImage
	}
	return DefaultBaseImage
}

// detached returns a context for cleanup work that must finish even when
// ctx was cancelled (Ctrl-C), bounded so it cannot hang.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}
