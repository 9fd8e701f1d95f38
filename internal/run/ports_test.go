package run

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"testing"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/trust"
)

func portsPlan(t *testing.T, yaml string) *plan {
	t.Helper()
	cfg, err := config.Parse("agent.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &plan{cfg: cfg, egress: &egressPlan{network: cfg.Network}}
}

func TestResolvePortsChecksHostAddressesUpFront(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name, yaml string
		flags      []string
		wantErr    string
	}{
		{name: "taken", yaml: fmt.Sprintf("ports: [\"%d:3000\"]\n", takenPort),
			wantErr: fmt.Sprintf("cannot publish port 127.0.0.1:%d:3000: host address 127.0.0.1:%[1]d is not free: bind: address already in use", takenPort)},
		{name: "taken by -p", flags: []string{fmt.Sprintf("%d:3000", takenPort)},
			wantErr: fmt.Sprintf("cannot publish port 127.0.0.1:%d:3000: host address 127.0.0.1:%[1]d is not free: bind: address already in use", takenPort)},
		{name: "policy none", yaml: "network: {policy: none}\nports: [3000]\n",
			wantErr: "cannot publish port 127.0.0.1::3000: network.policy none gives the run no proxy sidecar, which is what serves published ports"},
		{name: "the proxy's port", yaml: "ports: [3128]\n",
			wantErr: "cannot publish port 127.0.0.1::3128: port 3128 is moat's own in the run (its proxy's or BuildKit's)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := portsPlan(t, tt.yaml)
			var opts Options
			for _, f := range tt.flags {
				port, err := ParsePort(f)
				if err != nil {
					t.Fatal(err)
				}
				opts.Ports = append(opts.Ports, port)
			}
			err := resolvePorts(nil, opts, p)
			var pe *PortError
			if !errors.As(err, &pe) || err.Error() != tt.wantErr || pe.Hint() == "" {
				t.Fatalf("got %v, want %q with a remedy", err, tt.wantErr)
			}
		})
	}
}

func TestResolvePortsPicksAFreeHostPort(t *testing.T) {
	p := portsPlan(t, "ports: [3000]\n")
	if err := resolvePorts(nil, Options{}, p); err != nil {
		t.Fatal(err)
	}
	if len(p.ports) != 1 || p.ports[0].HostIP != "127.0.0.1" || p.ports[0].HostPort == 0 || p.ports[0].ContainerPort != 3000 {
		t.Fatalf("got %+v, want 127.0.0.1:<free>->3000", p.ports)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.ports[0].HostIP, strconv.Itoa(p.ports[0].HostPort)))
	if err != nil {
		t.Fatalf("the port picked is not free: %v", err)
	}
	ln.Close()
}

// TestLoopbackPortsNeedNoApproval: only a host address other than
// loopback lets anything but this machine reach the agent's server.
func TestLoopbackPortsNeedNoApproval(t *testing.T) {
	p := portsPlan(t, "ports: [3000, \"8080:3001\", \"[::1]:8081:3002\", \"0.0.0.0:8082:3003\"]\n")
	p.mounts = make([]runtime.Mount, 1) // the workspace
	sb := sandboxOf(p, func(string) ([]string, bool) { return nil, false })
	want := []trust.Permission{{Kind: trust.Network}, {Kind: trust.Publish, Value: "0.0.0.0:8082:3003"}}
	if !reflect.DeepEqual(sb.Permissions, want) {
		t.Fatalf("got %+v, want %+v", sb.Permissions, want)
	}
}
