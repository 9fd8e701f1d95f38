package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// pingTimeout bounds the first contact with the engine, so a dead socket
// fails fast instead of hanging the CLI.
const pingTimeout = 5 * time.Second

// Docker talks to a Docker Engine through its API. It honours DOCKER_HOST
// and negotiates the API version, so older engines work.
type Docker struct {
	cli  *client.Client
	host string
}

// NewDocker connects to the engine named by the environment and checks that
// it answers. An engine that does not answer gives an *UnreachableError.
func NewDocker(ctx context.Context) (*Docker, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("configuring the Docker client: %w", err)
	}
	d := &Docker{cli: cli, host: cli.DaemonHost()}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, &UnreachableError{Engine: "Docker", Host: d.host, Err: unwrapPing(err)}
	}
	cli.NegotiateAPIVersion(ctx)
	return d, nil
}

func unwrapPing(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", pingTimeout)
	}
	return err
}

// Host is the engine address in use, e.g. unix:///var/run/docker.sock.
func (d *Docker) Host() string { return d.host }

// Close releases the client's connections.
func (d *Docker) Close() error { return d.cli.Close() }

// mapErr turns engine errors callers branch on into the package's errors.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errdefs.IsConflict(err):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

// CreateContainer creates a container and returns its ID.
func (d *Docker) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	cfg := &container.Config{
		Image:        spec.Image,
		Cmd:          spec.Cmd,
		Env:          spec.Env,
		WorkingDir:   spec.WorkingDir,
		Labels:       spec.Labels,
		Tty:          spec.TTY,
		OpenStdin:    spec.OpenStdin,
		StdinOnce:    spec.OpenStdin,
		AttachStdin:  spec.OpenStdin,
		AttachStdout: true,
		AttachStderr: true,
	}
	cfg.User = spec.User
	if len(spec.Entrypoint) > 0 {
		cfg.Entrypoint = spec.Entrypoint
	}
	netMode, pidMode := namespaces(spec)
	mounts, err := d.mounts(spec)
	if err != nil {
		return "", err
	}
	host := &container.HostConfig{
		Mounts: mounts, Init: &spec.Init, CapDrop: spec.CapDrop, CapAdd: spec.CapAdd,
		NetworkMode: netMode, ExtraHosts: spec.ExtraHosts, ReadonlyRootfs: spec.ReadOnlyRootfs,
		AutoRemove: spec.AutoRemove, PidMode: pidMode,
		Resources: resources(spec),
	}
	host.SecurityOpt = append(host.SecurityOpt, spec.SecurityOpt...)
	if spec.NoNewPrivileges {
		host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges:true")
	}
	if spec.UnmaskSystemPaths {
		host.MaskedPaths, host.ReadonlyPaths = []string{}, []string{}
	}
	for _, dev := range spec.Devices {
		host.Devices = append(host.Devices, container.DeviceMapping{PathOnHost: dev, PathInContainer: dev, CgroupPermissions: "rwm"})
	}
	for _, v := range spec.Volumes {
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Source: v.Name, Target: v.Target})
	}
	resp, err := d.cli.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{}, nil, spec.Name)
	if err != nil {
		return "", mapErr(err)
	}
	return resp.ID, nil
}

// resources maps a spec's limits. Memory and swap together are bounded by
// Memory: swap beyond it would let a container thrash the host's disk.
func resources(spec ContainerSpec) container.Resources {
	r := container.Resources{Memory: spec.Memory, NanoCPUs: spec.NanoCPUs}
	if spec.Memory > 0 {
		r.MemorySwap = spec.Memory
	}
	if spec.PidsLimit > 0 {
		r.PidsLimit = &spec.PidsLimit
	}
	return r
}

// HostResources reports the engine's CPUs and memory.
func (d *Docker) HostResources(ctx context.Context) (HostResources, error) {
	info, err := d.cli.Info(ctx)
	if err != nil {
		return HostResources{}, mapErr(err)
	}
	return HostResources{CPUs: info.NCPU, Memory: info.MemTotal}, nil
}

// namespaces maps a spec's network intent to Docker's modes. Outbound is
// the host's network namespace: the sidecar dials out as the host would
// (its resolver, its routes) without a bridge to set up, and serves the
// agent's port through the socket the agent's relay hands over, not on a
// network address. Joining a container is Docker's "container:ID" mode.
func namespaces(spec ContainerSpec) (container.NetworkMode, container.PidMode) {
	if j := spec.Join; j != nil {
		mode := "container:" + j.Container
		if j.PID {
			return container.NetworkMode(mode), container.PidMode(mode)
		}
		return container.NetworkMode(mode), ""
	}
	switch spec.Network {
	case NetworkNone:
		return network.NetworkNone, ""
	case NetworkOutbound:
		return network.NetworkHost, ""
	}
	return "", ""
}

// mounts maps a spec's host paths, shared directories, moat's files and
// the engine's socket to bind mounts: every one of them is a path on the
// machine the engine runs on.
func (d *Docker) mounts(spec ContainerSpec) ([]mount.Mount, error) {
	out := make([]mount.Mount, 0, len(spec.Mounts)+len(spec.SharedDirs)+len(spec.MoatFiles)+1)
	bind := func(src, dst string, ro bool) {
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: src, Target: dst, ReadOnly: ro})
	}
	for _, m := range spec.Mounts {
		bind(m.Source, m.Target, m.ReadOnly)
	}
	for _, s := range spec.SharedDirs {
		bind(s.Source, s.Target, s.ReadOnly)
	}
	for _, f := range spec.MoatFiles {
		bind(f.Source, f.Target, true)
	}
	if spec.EngineSocket != "" {
		path, err := d.SocketPath()
		if err != nil {
			return nil, err
		}
		bind(path, spec.EngineSocket, false)
	}
	return out, nil
}

// StartContainer starts a created container.
func (d *Docker) StartContainer(ctx context.Context, id string) error {
	return mapErr(d.cli.ContainerStart(ctx, id, container.StartOptions{}))
}

// WaitContainer blocks until the container is not running and returns its
// exit code.
func (d *Docker) WaitContainer(ctx context.Context, id string) (int, error) {
	respC, errC := d.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case r := <-respC:
		if r.Error != nil && r.Error.Message != "" {
			return int(r.StatusCode), errors.New(r.Error.Message)
		}
		return int(r.StatusCode), nil
	case err := <-errC:
		return -1, mapErr(err)
	}
}

// WaitRemoved blocks until the container is gone, such as an auto-removed
// container after it exits. A container already gone returns nil.
//
// It follows the engine's events instead of waiting for the condition
// "removed": Engine 20.10 loses that wait when it arrives while the
// container is being removed (the state's channel is closed and made anew
// between the API's lookup and its wait), and the caller then waits until
// its deadline, about one strict run in a hundred here. The events are
// asked for from the container's creation on, so a removal between the
// inspection and the subscription is replayed, not missed.
func (d *Docker) WaitRemoved(ctx context.Context, id string) error {
	c, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		if err = mapErr(err); errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("container", c.ID),
		filters.Arg("event", string(events.ActionDestroy)))
	msgs, errs := d.cli.Events(ctx, events.ListOptions{Since: c.Created, Filters: f})
	select {
	case <-msgs:
		return nil
	case err := <-errs:
		return mapErr(err)
	}
}

// StopContainer sends SIGTERM, then SIGKILL after grace.
func (d *Docker) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace.Seconds())
	return mapErr(d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}))
}

// RemoveContainer force-removes a container and its anonymous volumes.
func (d *Docker) RemoveContainer(ctx context.Context, id string) error {
	return mapErr(d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}))
}

// InspectContainer reports a container's state.
func (d *Docker) InspectContainer(ctx context.Context, id string) (ContainerInfo, error) {
	c, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return ContainerInfo{}, mapErr(err)
	}
	info := ContainerInfo{ID: c.ID, Name: trimSlash(c.Name)}
	if c.Config != nil {
		info.Image, info.Labels, info.Cmd = c.Config.Image, c.Config.Labels, c.Config.Cmd
	}
	if s := c.State; s != nil {
		info.State, info.Running, info.ExitCode = string(s.Status), s.Running, s.ExitCode
		info.StartedAt = parseEngineTime(s.StartedAt)
		info.FinishedAt = parseEngineTime(s.FinishedAt)
	}
	return info, nil
}

func trimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}

func parseEngineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 2000 {
		return time.Time{}
	}
	return t
}

// ListContainers lists all containers, running or not, matching a label
// selector such as "moat.managed=true".
func (d *Docker) ListContainers(ctx context.Context, label string) ([]ContainerInfo, error) {
	cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: labelFilter(label)})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]ContainerInfo, 0, len(cs))
	for _, c := range cs {
		info := ContainerInfo{ID: c.ID, Image: c.Image, ImageID: c.ImageID, Labels: c.Labels, State: string(c.State), Running: c.State == container.StateRunning}
		if len(c.Names) > 0 {
			info.Name = trimSlash(c.Names[0])
		}
		out = append(out, info)
	}
	return out, nil
}

// labelFilter selects by one label; "" selects everything.
func labelFilter(label string) filters.Args {
	if label == "" {
		return filters.NewArgs()
	}
	return filters.NewArgs(filters.Arg("label", label))
}

// ContainerLogs copies the container's log to stdout and stderr (a TTY
// container's whole output goes to stdout). With Follow it returns when the
// container stops or ctx ends.
func (d *Docker) ContainerLogs(ctx context.Context, id string, opts LogOptions, stdout, stderr io.Writer) error {
	tail := opts.Tail
	if tail == "" {
		tail = "all"
	}
	info, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return mapErr(err)
	}
	rc, err := d.cli.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Timestamps: opts.Timestamps, Tail: tail,
	})
	if err != nil {
		return mapErr(err)
	}
	defer rc.Close()
	if opts.Timestamps { // one time per line, however long
		stdout, stderr = newJoinedLines(stdout), newJoinedLines(stderr)
	}
	return copyOutput(rc, info.Config != nil && info.Config.Tty, stdout, stderr)
}

// copyOutput copies an engine output stream, demultiplexing it unless it
// comes from a TTY.
func copyOutput(r io.Reader, tty bool, stdout, stderr io.Writer) error {
	var err error
	if tty {
		_, err = io.Copy(stdout, r)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, r)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// AttachContainer attaches to a container's standard streams. Attach before
// start so no output is missed.
func (d *Docker) AttachContainer(ctx context.Context, id string, opts AttachOptions) (Stream, error) {
	hr, err := d.cli.ContainerAttach(ctx, id, container.AttachOptions{
		Stream: true, Stdin: opts.Stdin, Stdout: true, Stderr: true, DetachKeys: opts.DetachKeys,
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return &hijacked{hr: hr, tty: opts.TTY}, nil
}

// hijacked adapts the engine's hijacked connection to Stream.
type hijacked struct {
	hr  types.HijackedResponse
	tty bool
}

func (h *hijacked) Write(p []byte) (int, error) { return h.hr.Conn.Write(p) }
func (h *hijacked) CloseWrite() error           { return h.hr.CloseWrite() }
func (h *hijacked) Close() error                { h.hr.Close(); return nil }
func (h *hijacked) CopyOutput(stdout, stderr io.Writer) error {
	return copyOutput(h.hr.Reader, h.tty, stdout, stderr)
}

// ResizeTTY sets the container's terminal size.
func (d *Docker) ResizeTTY(ctx context.Context, id string, height, width uint) error {
	return mapErr(d.cli.ContainerResize(ctx, id, container.ResizeOptions{Height: height, Width: width}))
}

// ImageID returns the ID of a local image, or ErrNotFound.
func (d *Docker) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", mapErr(err)
	}
	return img.ID, nil
}

// ImageEntrypoint returns a local image's entrypoint, which an engine
// that replaces a container's whole command line (a pod's command)
// must put first.
func (d *Docker) ImageEntrypoint(ctx context.Context, ref string) ([]string, error) {
	img, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return nil, mapErr(err)
	}
	if img.Config == nil {
		return nil, nil
	}
	return img.Config.Entrypoint, nil
}

// BuildImage builds an image with the engine's classic builder, which takes
// FROM images from the local store (there may be no registry), and passes
// each stream message to onMsg. It returns an error for a failed build.
func (d *Docker) BuildImage(ctx context.Context, req BuildRequest, onMsg func(BuildMessage)) error {
	resp, err := d.cli.ImageBuild(ctx, req.Context, build.ImageBuildOptions{
		Tags: []string{req.Tag}, Dockerfile: req.Dockerfile, Labels: req.Labels,
		NoCache: req.NoCache, Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return mapErr(err)
	}
	defer resp.Body.Close()
	return decodeBuildStream(resp.Body, onMsg)
}

// decodeBuildStream reads the engine's JSON message stream; the first error
// message in it is the build's result.
func decodeBuildStream(r io.Reader, onMsg func(BuildMessage)) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux struct {
				ID string `json:"ID"`
			} `json:"aux"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the build stream: %w", err)
		}
		msg := BuildMessage{Stream: m.Stream, Error: m.Error, ImageID: m.Aux.ID}
		if msg.Error == "" {
			msg.Error = m.ErrorDetail.Message
		}
		if onMsg != nil {
			onMsg(msg)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// LoadImage loads images from a docker-format tar stream (docker load).
func (d *Docker) LoadImage(ctx context.Context, r io.Reader) error {
	resp, err := d.cli.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return mapErr(err)
	}
	defer resp.Body.Close()
	return decodeBuildStream(resp.Body, nil)
}

// PullImage pulls an image from its registry.
func (d *Docker) PullImage(ctx context.Context, ref string) error {
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return mapErr(err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// RemoveImage removes an image by ID or reference.
func (d *Docker) RemoveImage(ctx context.Context, ref string) error {
	_, err := d.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
	return mapErr(err)
}

// ListImages lists images matching a label selector.
func (d *Docker) ListImages(ctx context.Context, label string) ([]ImageInfo, error) {
	imgs, err := d.cli.ImageList(ctx, image.ListOptions{Filters: labelFilter(label)})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, ImageInfo{ID: i.ID, Tags: i.RepoTags, Labels: i.Labels, Size: i.Size, Created: time.Unix(i.Created, 0)})
	}
	return out, nil
}

// ListNetworks lists networks matching a label selector.
func (d *Docker) ListNetworks(ctx context.Context, label string) ([]ObjectInfo, error) {
	ns, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: labelFilter(label)})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]ObjectInfo, 0, len(ns))
	for _, n := range ns {
		out = append(out, ObjectInfo{ID: n.ID, Name: n.Name, Labels: n.Labels})
	}
	return out, nil
}

// RemoveNetwork removes a network.
func (d *Docker) RemoveNetwork(ctx context.Context, id string) error {
	return mapErr(d.cli.NetworkRemove(ctx, id))
}

// CreateVolume creates a named volume with labels; an existing volume of
// that name is reused.
func (d *Docker) CreateVolume(ctx context.Context, name string, labels map[string]string) error {
	_, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: labels})
	return mapErr(err)
}

// StatusCommand is the command that shows whether the engine works, for
// hints that tell the user to check it.
func (d *Docker) StatusCommand() string { return "docker info" }

// ProvideImageRemedy says how a user puts image ref into the engine.
func (d *Docker) ProvideImageRemedy(ref string) string {
	return fmt.Sprintf("'docker pull %s', or 'docker load -i FILE' where no registry is reachable", ref)
}

// SocketPath is the host path of the engine's unix socket, for runs that
// mount it (docker:host). An engine reached over TCP or SSH has none.
func (d *Docker) SocketPath() (string, error) {
	path, ok := strings.CutPrefix(d.host, "unix://")
	if !ok {
		return "", &UnsupportedError{
			Feature: "docker:host", Engine: "the Docker engine at " + d.host,
			Reason: "moat can only share an engine it reaches through a local unix socket",
			Remedy: "Point DOCKER_HOST at the engine's unix socket (unix:///var/run/docker.sock,\n" +
				"or unix:///run/user/$UID/docker.sock for rootless Docker), or use docker:dind.",
		}
	}
	return path, nil
}

// ListVolumes lists volumes matching a label selector.
func (d *Docker) ListVolumes(ctx context.Context, label string) ([]ObjectInfo, error) {
	resp, err := d.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilter(label)})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]ObjectInfo, 0, len(resp.Volumes))
	for _, v := range resp.Volumes {
		out = append(out, ObjectInfo{ID: v.Name, Name: v.Name, Labels: v.Labels})
	}
	return out, nil
}

// RemoveVolume removes a volume.
func (d *Docker) RemoveVolume(ctx context.Context, name string) error {
	return mapErr(d.cli.VolumeRemove(ctx, name, true))
}

// CopyFileFrom reads a regular file from a container, running or not,
// keeping at most its last limit bytes.
func (d *Docker) CopyFileFrom(ctx context.Context, id, path string, limit int64) ([]byte, error) {
	rc, _, err := d.cli.CopyFromContainer(ctx, id, path)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("reading %s from container %s: %w", path, id, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("reading %s from container %s: not a regular file", path, id)
	}
	return readTail(tr, limit)
}

// CopyFilesTo puts files into a container that exists (created, say, and
// not started). Nothing of the
// host is mounted: the engine writes the copies into the container's own
// filesystem.
func (d *Docker) CopyFilesTo(ctx context.Context, id string, files []CopyFile) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, files)) }()
	err := d.cli.CopyToContainer(ctx, id, "/", pr, container.CopyToContainerOptions{})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("copying files into container %s: %w", id, mapErr(err))
	}
	return nil
}

// writeTar writes files as a tar stream of paths relative to /. It has no
// entries for their directories: the engine makes those that are missing
// (0755, root's) and leaves those that exist as they are.
func writeTar(w io.Writer, files []CopyFile) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		rel := strings.TrimPrefix(path.Clean(f.Path), "/")
		var r io.Reader = bytes.NewReader(f.Data)
		size := int64(len(f.Data))
		if f.Data == nil {
			src, err := os.Open(f.Source)
			if err != nil {
				return err
			}
			defer src.Close()
			fi, err := src.Stat()
			if err != nil {
				return err
			}
			r, size = src, fi.Size()
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: f.Mode, Size: size}); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, r, size); err != nil {
			return err
		}
	}
	return tw.Close()
}

// readTail reads r to its end, keeping only the last limit bytes.
func readTail(r io.Reader, limit int64) ([]byte, error) {
	var buf []byte
	chunk := make([]byte, 64<<10)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if int64(len(buf)) > 2*limit {
			buf = append(buf[:0], buf[int64(len(buf))-limit:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > limit {
		buf = buf[int64(len(buf))-limit:]
	}
	return buf, nil
}
