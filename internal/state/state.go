// Package state owns moat's on-disk layout under the moat home ($MOAT_HOME,
// default ~/.moat): one directory per run holding its metadata, logs and the
// Dockerfile its image was built from. Writes are atomic (write, fsync,
// rename), so a crash never leaves a half-written record.
package state

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/fsutil"
)

// Status is where a run is in its lifecycle.
type Status string

const (
	Created Status = "created" // container created, command not started
	Running Status = "running" // command running
	Exited  Status = "exited"  // command finished on its own; ExitCode is set
	Stopped Status = "stopped" // stopped by the user (moat stop, Ctrl-C)
	Failed  Status = "failed"  // moat failed before or while starting the command
	Lost    Status = "lost"    // the container vanished without moat seeing it end
)

// Active reports whether the run may still have a live container.
func (s Status) Active() bool { return s == Created || s == Running }

// Run is the persisted record of one run.
type Run struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Workspace   string    `json:"workspace"`
	Command     []string  `json:"command"`
	Image       string    `json:"image"`
	ImageHash   string    `json:"image_hash"`
	Deps        []string  `json:"dependencies"`
	ContainerID string    `json:"container_id,omitempty"`
	Status      Status    `json:"state"`
	Detached    bool      `json:"detached"`
	Keep        bool      `json:"keep"`
	TTY         bool      `json:"tty"`
	Interactive bool      `json:"interactive,omitempty"` // stdin kept open (-i): 'moat attach' forwards input
	ExitCode    *int      `json:"exit_code,omitempty"`
	Error       string    `json:"error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	MoatVersion string    `json:"moat_version"`
	// Privileges lists what the run was given beyond an ordinary
	// sandbox, each with the reason, so a reader can tell how far the
	// agent could reach.
	Privileges []Privilege `json:"privileges,omitempty"`
	// Volumes are the engine volumes the run uses beyond its container.
	Volumes []Volume `json:"volumes,omitempty"`
	// Policy is the network policy (strict, permissive or none) and Grants
	// the grants, by name, whose credentials the proxy injects.
	Policy string   `json:"policy,omitempty"`
	Grants []string `json:"grants,omitempty"`
	// Sidecars are the containers that serve the run besides the agent's
	// (its proxy).
	Sidecars []Sidecar `json:"sidecars,omitempty"`
	// Limits are what the engine lets the agent's container use.
	Limits *Limits `json:"limits,omitempty"`
	// Ports are the run's ports published on the host (its proxy sidecar
	// listens on them).
	Ports []Port `json:"ports,omitempty"`
}

// Port is a port of the run published on the host: HostIP:HostPort there
// leads to ContainerPort on the agent's loopback.
type Port struct {
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
}

// String is the port as docker ps shows one: "127.0.0.1:8080->3000/tcp".
func (p Port) String() string {
	return net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)) + "->" + strconv.Itoa(p.ContainerPort) + "/tcp"
}

// Limits are a container's resource limits; 0 is no limit.
type Limits struct {
	Memory int64   `json:"memory"` // bytes, swap included
	CPUs   float64 `json:"cpus"`
	Pids   int64   `json:"pids"`
}

// Sidecar is a container that serves a run, such as its egress proxy.
type Sidecar struct {
	Role string `json:"role"` // labels.Role* value, e.g. "proxy"
	Name string `json:"name"` // its container's name
	// Limits are the sidecar's own resource limits.
	Limits *Limits `json:"limits,omitempty"`
}

// Volume is an engine volume a run uses.
type Volume struct {
	Name string `json:"name"`
	Keep bool   `json:"keep,omitempty"` // a cache that outlives the run
	// Where a cache came from: its workspace, the digest of the approved
	// sandbox it is keyed by, and the run that created it.
	Workspace    string `json:"workspace,omitempty"`
	ConfigDigest string `json:"config_digest,omitempty"`
	CreatedBy    string `json:"created_by,omitempty"`
}

// Privilege is one elevation a run received.
type Privilege struct {
	What   string `json:"what"`   // e.g. "host Docker socket /var/run/docker.sock"
	Reason string `json:"reason"` // e.g. "docker:host"
	Effect string `json:"effect"` // what it lets the agent do
}

// SetExit records the end of the run's command.
func (r *Run) SetExit(status Status, code int, at time.Time) {
	r.Status, r.ExitCode, r.FinishedAt = status, &code, at
}

// Files in a run directory.
const (
	metadataFile   = "metadata.json"
	LogFile        = "logs.jsonl"
	DockerfileFile = "Dockerfile"
	// ProxyDir is the proxy sidecar's own directory, the only part of the
	// run it sees: the audit log it appends to, its log and its socket.
	// Whatever is in it may have been written by a proxy taken over.
	ProxyDir = "proxy"
)

// Store reads and writes run records under Root.
type Store struct{ Root string }

// DefaultRoot is $MOAT_HOME, or ~/.moat.
func DefaultRoot() (string, error) {
	if h := os.Getenv("MOAT_HOME"); h != "" {
		return filepath.Abs(h)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory: %w (set MOAT_HOME)", err)
	}
	return filepath.Join(home, ".moat"), nil
}

func (s *Store) runsDir() string { return filepath.Join(s.Root, "runs") }

// Dir is a run's directory.
func (s *Store) Dir(id string) string { return filepath.Join(s.runsDir(), id) }

// Path is the path of a file in a run's directory.
func (s *Store) Path(id, file string) string { return filepath.Join(s.Dir(id), file) }

// NewID returns a fresh 12-hex-digit run ID.
func NewID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Create makes the run's directory, with the proxy's, and writes its
// first record.
func (s *Store) Create(r *Run) error {
	if err := os.MkdirAll(filepath.Join(s.Dir(r.ID), ProxyDir), 0o700); err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	return s.Save(r)
}

// OpenFile opens the regular file name (a relative path) in run id's
// directory without following a link: a run's directory holds files a
// sidecar wrote, and moat reads and writes nothing through a link there.
func (s *Store) OpenFile(id, name string, flag int, perm os.FileMode) (*os.File, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return fsutil.OpenBeneath(s.Dir(id), name, flag, perm)
}

func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return fmt.Errorf("invalid run id %q", id)
	}
	return nil
}

// Save writes the run's record atomically.
func (s *Store) Save(r *Run) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(s.Path(r.ID, metadataFile), append(data, '\n'), 0o600)
}

// maxRecord bounds a run record read back.
const maxRecord = 16 << 20

// Load reads one run's record.
func (s *Store) Load(id string) (*Run, error) {
	f, err := s.OpenFile(id, metadataFile, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecord))
	if err != nil {
		return nil, fmt.Errorf("reading run %s: %w", id, err)
	}
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading run %s: %w", id, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("reading run %s: its record names run %q", id, r.ID)
	}
	return &r, nil
}

// List returns every readable run, newest first. Unreadable records are
// skipped: one damaged directory must not hide the others.
func (s *Store) List() ([]*Run, error) {
	entries, err := os.ReadDir(s.runsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	runs := make([]*Run, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if r, err := s.Load(e.Name()); err == nil {
			runs = append(runs, r)
		}
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].CreatedAt.After(runs[j].CreatedAt) })
	return runs, nil
}

// Delete removes a run's directory and everything in it, and its name
// from the index if it still holds it there.
func (s *Store) Delete(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if r, err := s.Load(id); err == nil {
		s.ReleaseName(r.Name, id)
	}
	return os.RemoveAll(s.Dir(id))
}

// WriteFileAtomic replaces path with data, crash-safely.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return fsutil.WriteFileAtomic(path, data, perm)
}

// KeysDir holds the user's keys (the audit signing key).
func (s *Store) KeysDir() string { return filepath.Join(s.Root, "keys") }
