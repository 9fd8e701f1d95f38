// Package runtime owns moat's view of container engines: the engine-neutral
// types the orchestrator passes around (container specs, states, build
// requests) and the typed errors engines map their failures to. Each engine
// adapter (Docker today; Podman, Apple containers or a cluster later) lives in
// its own file and satisfies the small interfaces the orchestrator declares.
package runtime

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Mount is a bind mount of a host path into a container.
type Mount struct {
	Source   string // absolute host path
	Target   string // absolute container path
	ReadOnly bool
}

// ContainerSpec describes a container to create.
type ContainerSpec struct {
	Name       string
	Image      string
	Cmd        []string
	Env        []string // KEY=VALUE
	WorkingDir string
	Mounts     []Mount
	Labels     map[string]string
	TTY        bool
	OpenStdin  bool
	// Init runs a minimal init as PID 1 that forwards signals and reaps
	// zombies, so 'moat stop' ends a command that ignores SIGTERM as PID 1
	// (a shell) at once instead of after the kill timeout.
	Init bool
	// CapDrop and CapAdd set the container's capabilities ("ALL" drops
	// every one); NoNewPrivileges stops any process in it from gaining
	// privileges through setuid binaries or file capabilities.
	CapDrop         []string
	CapAdd          []string
	NoNewPrivileges bool
	// SecurityOpt are extra engine security options, such as
	// "seccomp=unconfined"; UnmaskSystemPaths leaves /proc and /sys
	// unmasked and writable (what a nested daemon needs).
	SecurityOpt       []string
	UnmaskSystemPaths bool
	// Devices are host device nodes given to the container at the same
	// path, readable and writable (such as /dev/net/tun).
	Devices []string
	// Volumes are named engine volumes mounted into the container.
	Volumes []VolumeMount

	// Network is the network mode: "" for the engine's default, "none" for
	// no network at all (loopback only), "host" for the host's own network
	// namespace. ExtraHosts adds "name:address" lines to /etc/hosts.
	Network    string
	ExtraHosts []string
	// User runs the container's process as "uid:gid" instead of the
	// image's user.
	User string
	// ReadOnlyRootfs mounts the image's filesystem read-only.
	ReadOnlyRootfs bool
	// AutoRemove has the engine remove the container once it exits.
	AutoRemove bool
	// Entrypoint replaces the image's entrypoint when set.
	Entrypoint []string
	// PidMode shares another container's PID namespace ("container:ID"):
	// when that container's init ends, every process in this one ends too.
	PidMode string
	// Memory (bytes, swap included: the container gets no swap), NanoCPUs
	// (1e9 is one CPU) and PidsLimit (processes and threads) bound what
	// the container may use; 0 is no limit.
	Memory    int64
	NanoCPUs  int64
	PidsLimit int64
}

// HostResources is what the machine an engine runs containers on has.
type HostResources struct {
	CPUs   int
	Memory int64 // bytes
}

// VolumeMount mounts a named volume.
type VolumeMount struct {
	Name   string
	Target string
}

// ContainerInfo is what an engine reports about a container.
type ContainerInfo struct {
	ID         string
	Name       string
	Image      string // as the container was created: a tag or an ID
	ImageID    string
	Labels     map[string]string
	State      string // engine state: created, running, exited, dead, ...
	Running    bool
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
}

// LogOptions selects what ContainerLogs returns.
type LogOptions struct {
	Follow     bool
	Timestamps bool
	Tail       string // "all" or a number of lines
}

// AttachOptions selects what AttachContainer connects.
type AttachOptions struct {
	Stdin bool // forward input to the container
	TTY   bool // the container has a TTY: output is one raw stream
}

// Stream is an attached container's standard streams: writes go to its
// stdin, CopyOutput copies its output until the container's streams close.
type Stream interface {
	io.WriteCloser
	CloseWrite() error
	CopyOutput(stdout, stderr io.Writer) error
}

// ImageInfo describes an image in the engine's store.
type ImageInfo struct {
	ID      string
	Tags    []string
	Labels  map[string]string
	Size    int64
	Created time.Time
}

// BuildRequest is an image build from a tar build context.
type BuildRequest struct {
	Context    io.Reader // tar stream holding Dockerfile and its files
	Dockerfile string    // name of the Dockerfile in Context
	Tag        string
	Labels     map[string]string
	NoCache    bool
}

// BuildMessage is one message from an engine's build stream.
type BuildMessage struct {
	Stream  string // output text, possibly several lines
	Error   string // set when the build failed
	ImageID string // the built image's ID, reported once at the end
}

// ObjectInfo is a network or volume moat created.
type ObjectInfo struct {
	ID     string
	Name   string
	Labels map[string]string
}

// UnsupportedError reports that an engine cannot provide a feature a run
// asks for; Hint says what to do instead.
type UnsupportedError struct {
	Feature string // "docker:host"
	Engine  string
	Reason  string
	Remedy  string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s is not available with %s: %s", e.Feature, e.Engine, e.Reason)
}

// Hint says what to do instead.
func (e *UnsupportedError) Hint() string { return e.Remedy }

// ErrNotFound reports that an engine object does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict reports that an engine object is in use or already exists.
var ErrConflict = errors.New("conflict")

// UnreachableError reports that the engine cannot be reached at all.
type UnreachableError struct {
	Engine string // "docker"
	Host   string // where moat tried to reach it
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the %s engine at %s: %v", e.Engine, e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Hint says what to do about an unreachable engine.
func (e *UnreachableError) Hint() string {
	return "Start the Docker engine (for example 'sudo systemctl start docker', or 'sudo dockerd &'),\n" +
		"or point DOCKER_HOST at a running one, then try again."
}

// CopyFile is a file to put into a container: Data, or the host file
// Source when Data is nil, at Path, owned by root with Mode.
type CopyFile struct {
	Path   string
	Mode   int64
	Data   []byte
	Source string
}
