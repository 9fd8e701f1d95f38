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
	"io/fs"
	"strings"
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

	// Network is what network the container needs (see Network's values);
	// Join, when set, replaces it: the container shares another's
	// namespaces. ExtraHosts adds "name:address" lines to /etc/hosts.
	Network    Network
	Join       *Join
	ExtraHosts []string
	// ServesPort, for a NetworkOutbound container (the proxy sidecar), is
	// the port on the agent's loopback whose connections it serves. How
	// they reach it is the adapter's choice: Docker's agent hands the
	// listening socket over a SharedDir, a cluster adapter may route the
	// port to the sidecar's pod and deny everything else.
	ServesPort int
	// SharedDirs are directories of the run that this container shares
	// with its other containers and with moat (which reads them once the
	// run ends); MoatFiles are files of moat's own the container reads;
	// EngineSocket is where the container finds the engine's own API
	// (docker:host). Each adapter decides how they get there; see the
	// types.
	SharedDirs   []SharedDir
	MoatFiles    []MoatFile
	EngineSocket string
	// User runs the container's process as "uid:gid" instead of the
	// image's user.
	User string
	// ReadOnlyRootfs mounts the image's filesystem read-only.
	ReadOnlyRootfs bool
	// AutoRemove has the engine remove the container once it exits.
	AutoRemove bool
	// Entrypoint replaces the image's entrypoint when set.
	Entrypoint []string
	// Memory (bytes, swap included: the container gets no swap), NanoCPUs
	// (1e9 is one CPU) and PidsLimit (processes and threads) bound what
	// the container may use; 0 is no limit.
	Memory    int64
	NanoCPUs  int64
	PidsLimit int64
}

// Network is what network a container needs, said without the engine's
// topology: each adapter maps it (Docker: a network mode; a cluster: pod
// networking and network policies).
type Network int

const (
	// NetworkDefault is the engine's default network.
	NetworkDefault Network = iota
	// NetworkNone is loopback only: the container reaches nothing and
	// nothing reaches it, except containers that join its namespaces.
	NetworkNone
	// NetworkOutbound is a container that dials out on the run's behalf
	// (the proxy sidecar: the run's only way out) and listens on no
	// network address: what it serves reaches it through ServesPort.
	NetworkOutbound
)

// String names the intent, for messages and tests.
func (n Network) String() string {
	switch n {
	case NetworkNone:
		return "no network (loopback only)"
	case NetworkOutbound:
		return "outbound for the run"
	}
	return "the engine's default"
}

// Join puts a container into another container's namespaces: its network
// (the same loopback and interfaces) and, with PID, its processes, so that
// everything in the joining container ends when that container's init
// does. The other container must be running when this one starts.
type Join struct {
	Container string // the ID of the container joined
	PID       bool
}

// SharedDir is a directory of the run that several of its containers, and
// moat, share: Source is where moat keeps it (under the run's directory);
// each container sees it at Target. Docker bind-mounts Source into each
// container; a cluster adapter would give the containers a volume and
// copy it back to Source when the run ends.
type SharedDir struct {
	Source   string
	Target   string
	ReadOnly bool
}

// MoatFile is a file of moat's own (its static binary, the user's proxy
// CA) that a container reads at Target, never writes. Docker bind-mounts
// Source read-only; a cluster adapter would put it in a ConfigMap or an
// image.
type MoatFile struct {
	Source string
	Target string
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
	Cmd        []string // the command's arguments (after the entrypoint)
	Image      string   // as the container was created: a tag or an ID
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
	// DetachKeys is the engine's detach sequence ("" is its default), in
	// Docker's "ctrl-p,ctrl-q" form.
	DetachKeys string
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
	if e.Engine == "Kubernetes" {
		return "Check that the cluster answers ('kubectl cluster-info') and that moat uses the right kubeconfig and\n" +
			"context (KUBECONFIG, config.yaml's kubernetes:, or --context), then try again."
	}
	if errors.Is(e.Err, fs.ErrPermission) {
		// The engine runs; this user may not use its socket.
		socket := strings.TrimPrefix(e.Host, "unix://")
		return fmt.Sprintf("The engine is there, but your user may not open its socket %s. Join the group that owns\n"+
			"the socket (usually docker: 'sudo usermod -aG docker $USER', then log in again; 'ls -l %s'\n"+
			"shows it), or point DOCKER_HOST at an engine of your own (a rootless one), then try again.", socket, socket)
	}
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
