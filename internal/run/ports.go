package run

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/state"
)

// Port is a port to publish on the host ([HOST_IP:][HOST_PORT:]PORT).
type Port = config.Port

// ParsePort parses a -p spec, in Docker's form.
func ParsePort(spec string) (Port, error) { return config.ParsePort(spec) }

// PortError reports a port the run cannot publish, before anything is
// built or started.
type PortError struct {
	Spec   string // as written ("8080:3000")
	Reason string
	Remedy string
}

func (e *PortError) Error() string {
	return fmt.Sprintf("cannot publish port %s: %s", e.Spec, e.Reason)
}
func (e *PortError) Hint() string { return e.Remedy }

// resolvePorts gathers agent.yaml's ports and -p's, refuses those the run
// cannot publish and checks, by listening on it, that each host address
// is free now, so that a taken port fails the run before anything is
// built or started. A port without a host port gets a free one here.
// The proxy sidecar listens on them (docs/ports.md).
func resolvePorts(_ *Manager, opts Options, p *plan) error {
	all := append(append([]Port(nil), p.cfg.Ports...), opts.Ports...)
	if len(all) == 0 {
		return nil
	}
	if p.egress.mode() == policy.None {
		return &PortError{Spec: all[0].String(), Reason: "network.policy none gives the run no proxy sidecar, which is what serves published ports",
			Remedy: "Use network.policy strict (the default) to publish ports, or remove them."}
	}
	seen := map[netip.AddrPort]bool{}
	for _, port := range all {
		if err := checkContainerPort(port); err != nil {
			return err
		}
		host, err := reserveHostPort(port)
		if err != nil {
			return err
		}
		if seen[host] {
			return &PortError{Spec: port.String(), Reason: fmt.Sprintf("host address %s is published twice", host),
				Remedy: "Publish each host port once (agent.yaml's ports and -p add up)."}
		}
		seen[host] = true
		p.ports = append(p.ports, state.Port{HostIP: host.Addr().String(), HostPort: int(host.Port()), ContainerPort: int(port.ContainerPort)})
	}
	return nil
}

// checkContainerPort refuses moat's own ports in the agent's namespace:
// published, the proxy's would serve the host's clients as the agent.
func checkContainerPort(port Port) error {
	switch port.ContainerPort {
	case proxyPort, buildkitPort:
		return &PortError{Spec: port.String(), Reason: fmt.Sprintf("port %d is moat's own in the run (its proxy's or BuildKit's)", port.ContainerPort),
			Remedy: "Serve on another port in the run."}
	}
	return nil
}

// reserveHostPort checks that port's host address is free by listening
// on it, and returns it, with the port the system chose if none was
// given. The listener is closed at once: the proxy sidecar listens there
// when it starts, and fails the run if the address was taken meanwhile.
func reserveHostPort(port Port) (netip.AddrPort, error) {
	addr := net.JoinHostPort(port.HostIP.String(), strconv.Itoa(int(port.HostPort)))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return netip.AddrPort{}, &PortError{Spec: port.String(), Reason: fmt.Sprintf("host address %s is not free: %v", addr, unwrapOp(err)),
			Remedy: "Choose another host port (-p HOST_PORT:PORT), or stop what listens there."}
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String()), nil
}

// unwrapOp drops the *net.OpError's own prefix, which repeats the address.
func unwrapOp(err error) error {
	if op, ok := err.(*net.OpError); ok && op.Err != nil {
		return op.Err
	}
	return err
}

// publishedPorts is the wire form of the run's ports, for its proxy.
func publishedPorts(ports []state.Port) []egress.PublishedPort {
	out := make([]egress.PublishedPort, len(ports))
	for i, p := range ports {
		out[i] = egress.PublishedPort{Host: net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)), ContainerPort: p.ContainerPort}
	}
	return out
}
