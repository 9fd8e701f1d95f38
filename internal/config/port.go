package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Port is a port of the run published on the host, in Docker's form
// [HOST_IP:][HOST_PORT:]CONTAINER_PORT: connections to HostIP:HostPort on
// the host reach ContainerPort on the agent's loopback.
type Port struct {
	HostIP        netip.Addr // 127.0.0.1 unless written
	HostPort      uint16     // 0: moat picks a free port when the run starts
	ContainerPort uint16
}

// Loopback is the host address a port is published on unless one is written.
var Loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// minHostPort is the lowest host port a run can publish: the proxy sidecar,
// which listens on it, runs without capabilities.
const minHostPort = 1024

// String renders p in the form ParsePort reads, host address included.
func (p Port) String() string {
	host := ""
	if p.HostPort != 0 {
		host = strconv.Itoa(int(p.HostPort))
	}
	return hostIPString(p.HostIP) + ":" + host + ":" + strconv.Itoa(int(p.ContainerPort))
}

// hostIPString is ip as String writes it: IPv6 in brackets.
func hostIPString(ip netip.Addr) string {
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

// IsLoopback reports whether the port is reachable only from this machine.
func (p Port) IsLoopback() bool { return p.HostIP.IsLoopback() }

// ParsePort parses [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp], for example
// from 'moat run -p'. Errors are *Error without a file.
func ParsePort(spec string) (Port, error) {
	p, prob := parsePort(spec)
	if prob != nil {
		return Port{}, &Error{Msg: prob.msg, Remedy: prob.hint}
	}
	return p, nil
}

const portForms = `Write CONTAINER_PORT, HOST_PORT:CONTAINER_PORT or HOST_IP:HOST_PORT:CONTAINER_PORT, e.g. "8080:3000".`

func portProblem(spec, hint, format string, args ...any) *problem {
	return newProblem(hint, "invalid port %q: %s", spec, fmt.Sprintf(format, args...))
}

func parsePort(spec string) (Port, *problem) {
	s, proto, hasProto := strings.Cut(spec, "/")
	if hasProto && proto != "tcp" {
		return Port{}, portProblem(spec, "Only TCP ports can be published: remove the protocol or write /tcp.", "protocol %q is not supported", proto)
	}
	p := Port{HostIP: Loopback}
	rest, cport, found := cutLast(s, ":")
	if !found {
		rest, cport = "", s
	}
	n, prob := portNumber(spec, cport, "container port")
	if prob != nil {
		return Port{}, prob
	}
	p.ContainerPort = n
	if !found {
		return p, nil
	}
	ip, hport, hasIP := cutLast(rest, ":")
	if !hasIP {
		ip, hport = "", rest
	}
	if hasIP {
		addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]"))
		if err != nil || addr.Zone() != "" {
			return Port{}, portProblem(spec, portForms+` The host address is an IP address: "127.0.0.1", "0.0.0.0" or "[::1]".`, "host address %q is not an IP address", ip)
		}
		p.HostIP = addr.Unmap()
	}
	if hport == "" && hasIP {
		return p, nil // HOST_IP::CONTAINER_PORT: any free host port
	}
	if p.HostPort, prob = portNumber(spec, hport, "host port"); prob != nil {
		return Port{}, prob
	}
	if p.HostPort < minHostPort {
		return Port{}, portProblem(spec, fmt.Sprintf("Publish on a host port from %d up, e.g. \"%d:%d\".", minHostPort, 8000+int(p.HostPort), p.ContainerPort),
			"host port %d is below %d: the proxy sidecar that listens on it has no privileges", p.HostPort, minHostPort)
	}
	return p, nil
}

// cutLast cuts s around the last sep, outside of brackets' contents only
// when the bracket closes before it.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 || strings.LastIndex(s, "]") > i {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func portNumber(spec, s, what string) (uint16, *problem) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 || strings.HasPrefix(s, "+") {
		return 0, portProblem(spec, portForms, "%s %q is not a number from 1 to 65535", what, s)
	}
	return uint16(n), nil
}

// ports decodes agent.yaml's ports: a list of port specs, numbers
// allowed for a bare container port.
func (d *decoder) ports(at ast.Node, c *Config) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		return d.errorf(at, `Write a list: ports: ["8080:3000"].`, "ports: expected a list, got %s", kind(n))
	}
	seen := map[string]string{}
	for _, item := range seq.Values {
		spec, err := d.portSpec(item)
		if err != nil {
			return err
		}
		p, prob := parsePort(spec)
		if prob != nil {
			return d.errorAt(item, prob)
		}
		if p.HostPort != 0 {
			host := netip.AddrPortFrom(p.HostIP, p.HostPort).String()
			if first, dup := seen[host]; dup {
				return d.errorAt(item, portProblem(spec, "Publish each host port once.", "host address %s is already used%s", host, firstAt(first)))
			}
			seen[host] = posString(item)
		}
		c.Ports = append(c.Ports, p)
	}
	return nil
}

// portSpec is a list item of ports: a string, or a number (a bare
// container port).
func (d *decoder) portSpec(at ast.Node) (string, error) {
	n, err := d.resolve(at)
	if err != nil {
		return "", err
	}
	if i, ok := n.(*ast.IntegerNode); ok {
		return tokenValue(i), nil
	}
	return d.str(at, "ports")
}
