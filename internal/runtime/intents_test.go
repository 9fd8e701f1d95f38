package runtime

import (
	"errors"
	"reflect"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// TestDockerMapsNetworkIntents checks how the Docker adapter maps what the
// orchestrator asks for to network and PID modes.
func TestDockerMapsNetworkIntents(t *testing.T) {
	tests := []struct {
		name    string
		spec    ContainerSpec
		net     container.NetworkMode
		pidMode container.PidMode
	}{
		{"default", ContainerSpec{}, "", ""},
		{"no network: loopback only", ContainerSpec{Network: NetworkNone}, "none", ""},
		{"outbound for the run: the host's namespace", ContainerSpec{Network: NetworkOutbound, ServesPort: 3128}, "host", ""},
		{"joins network and PID", ContainerSpec{Network: NetworkNone, Join: &Join{Container: "abc", PID: true}}, "container:abc", "container:abc"},
		{"joins network only", ContainerSpec{Join: &Join{Container: "abc"}}, "container:abc", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net, pid := namespaces(tt.spec)
			if net != tt.net || pid != tt.pidMode {
				t.Fatalf("got network %q pid %q, want %q %q", net, pid, tt.net, tt.pidMode)
			}
		})
	}
}

// TestDockerMapsSharedFilesToBinds checks that shared directories, moat's
// files (read-only) and the engine's socket become binds of host paths.
func TestDockerMapsSharedFilesToBinds(t *testing.T) {
	d := &Docker{host: "unix:///run/docker.sock"}
	got, err := d.mounts(ContainerSpec{
		Mounts:       []Mount{{Source: "/ws", Target: "/workspace"}},
		SharedDirs:   []SharedDir{{Source: "/home/u/.moat/runs/r/proxy/sock", Target: "/run/moat/sock", ReadOnly: true}},
		MoatFiles:    []MoatFile{{Source: "/usr/bin/moat", Target: "/run/moat/bin/moat"}},
		EngineSocket: "/var/run/docker.sock",
	})
	if err != nil {
		t.Fatal(err)
	}
	bind := func(src, dst string, ro bool) mount.Mount {
		return mount.Mount{Type: mount.TypeBind, Source: src, Target: dst, ReadOnly: ro}
	}
	want := []mount.Mount{
		bind("/ws", "/workspace", false),
		bind("/home/u/.moat/runs/r/proxy/sock", "/run/moat/sock", true),
		bind("/usr/bin/moat", "/run/moat/bin/moat", true),
		bind("/run/docker.sock", "/var/run/docker.sock", false),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// An engine reached over TCP has no socket to share.
	tcp := &Docker{host: "tcp://10.0.0.1:2376"}
	var unsupported *UnsupportedError
	if _, err := tcp.mounts(ContainerSpec{EngineSocket: "/var/run/docker.sock"}); !errors.As(err, &unsupported) {
		t.Fatalf("got %v, want an UnsupportedError", err)
	}
}
