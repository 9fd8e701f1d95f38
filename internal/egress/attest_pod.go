package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// probeWait bounds the forwarded no-direct-route check as a whole: its
// probes run at once, and one that neither connects nor fails by then
// (its packets are dropped, as a NetworkPolicy does) has not connected.
const probeWait = 400 * time.Millisecond

// gatewayPorts are the ports tried on the pod's default gateway, which is
// usually its node: HTTP, HTTPS, the API server's and the kubelet's.
var gatewayPorts = []string{"80", "443", "6443", "10250"}

// checkNoDirectConnect is no-direct-route for a relay that forwards to
// a proxy elsewhere: the namespace has a route out (a pod's), so the
// check is that nothing answers a direct connection: not the node, the
// cluster's API service, the cloud metadata address, nor a public
// address. It fails naming the first probe, in order, that connected.
func (at *Attester) checkNoDirectConnect(ctx context.Context) CheckVerdict {
	v := CheckVerdict{Name: CheckNoDirectRoute, Verdict: VerdictFail}
	probes := at.Probes
	if probes == nil {
		var err error
		if probes, err = podProbes(at.RouteFiles[0], os.Getenv); err != nil {
			v.Detail = err.Error()
			return v
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	dial := at.direct()
	connected := make([]bool, len(probes))
	var wg sync.WaitGroup
	for i, addr := range probes {
		wg.Go(func() {
			if c, err := dial(ctx, "tcp", addr); err == nil {
				c.Close()
				connected[i] = true
			}
		})
	}
	wg.Wait()
	for i, addr := range probes {
		if connected[i] {
			v.Detail = fmt.Sprintf("a direct connection to %s succeeded: the agent reaches more than its proxy", addr)
			return v
		}
	}
	v.Verdict = VerdictPass
	return v
}

// podProbes are the direct connections a pod's agent must not make: to
// its default gateway (from routeFile, "" meaning /proc/net/route) on
// gatewayPorts, to the cluster's API service (KUBERNETES_SERVICE_HOST
// and _PORT, which the kubelet sets in every container), to the cloud
// metadata address, and to a public address over IPv4 and IPv6.
func podProbes(routeFile string, getenv func(string) string) ([]string, error) {
	if routeFile == "" {
		routeFile = "/proc/net/route"
	}
	table, err := os.ReadFile(routeFile)
	if err != nil {
		return nil, fmt.Errorf("reading the routing table: %w", err)
	}
	var probes []string
	for _, gw := range defaultGatewaysV4(table) {
		for _, port := range gatewayPorts {
			probes = append(probes, net.JoinHostPort(gw.String(), port))
		}
	}
	if host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT"); host != "" && port != "" {
		probes = append(probes, net.JoinHostPort(host, port))
	}
	probes = append(probes, "169.254.169.254:80")
	return append(probes, directTargets...), nil
}

// defaultGatewaysV4 returns the gateways of the default routes in
// /proc/net/route's text, whose addresses are hexadecimal in the host's
// (little-endian) byte order.
func defaultGatewaysV4(table []byte) []netip.Addr {
	var gws []netip.Addr
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		n, err := strconv.ParseUint(f[2], 16, 32)
		if err != nil || n == 0 { // a route without a gateway (a device route)
			continue
		}
		gws = append(gws, netip.AddrFrom4([4]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}))
	}
	return gws
}
