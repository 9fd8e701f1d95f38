package egress

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// proxyAddrPoll is how often ProxyAddress looks for the file: the wait it
// ends is the proxy pod's start, a second or so.
const proxyAddrPoll = 20 * time.Millisecond

// ProxyAddress resolves ProxyAddrEnv's value: an address as it is, or, for
// an absolute path, the address the file there holds once it exists,
// waiting for it at most wait. The file is written whole by moat (renamed
// into place), so that what is read is never part of it.
func ProxyAddress(ctx context.Context, value string, wait time.Duration) (string, error) {
	if !strings.HasPrefix(value, "/") {
		return checkProxyAddr(value)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		b, err := os.ReadFile(value)
		if err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return checkProxyAddr(strings.TrimSpace(string(b)))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the proxy's address did not come within %s (%s=%s), so the agent has no network; see the proxy's log", wait, ProxyAddrEnv, value)
		case <-time.After(proxyAddrPoll):
		}
	}
}

func checkProxyAddr(addr string) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("%s: %q is not HOST:PORT", ProxyAddrEnv, addr)
	}
	return addr, nil
}
