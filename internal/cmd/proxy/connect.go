package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/egress"
)

// proxyEnv are the variables that may name the run's proxy, in the
// order they are read.
var proxyEnv = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}

// newCmdConnect builds 'proxy connect', ssh's ProxyCommand in a run: the
// agent's container has no route out, so ssh reaches its server through
// a CONNECT tunnel of the run's proxy, which allows the hosts of the
// run's ssh grants.
func newCmdConnect() *cobra.Command {
	return &cobra.Command{
		Use:   "connect HOST PORT",
		Short: "Connect stdin and stdout to HOST:PORT through the run's proxy",
		Long: `Connect stdin and stdout to HOST:PORT through the run's proxy, for ssh's
ProxyCommand in a run (moat writes it in /etc/ssh/ssh_config.d/moat.conf).

It reads the proxy's URL from HTTPS_PROXY (else https_proxy, HTTP_PROXY,
http_proxy) and asks it for a tunnel with CONNECT. If the proxy refuses,
it says why and exits 1.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := connect(cmd.Context(), os.Getenv, args[0], args[1], cmd.InOrStdin(), cmd.OutOrStdout())
			if err != nil && cmd.Context().Err() == nil { // else a signal, which moat reports
				// Printed here, not by the caller: the line is the same
				// from moat and moat-sidecar, and ssh shows it as is.
				fmt.Fprintf(cmd.ErrOrStderr(), "moat: %v\n", err)
				os.Exit(1)
			}
			return err
		},
	}
}

// connect carries in and out through a tunnel to host:port of the proxy
// that getenv names.
func connect(ctx context.Context, getenv func(string) string, host, port string, in io.Reader, out io.Writer) error {
	hostport, err := tunnelTarget(host, port)
	if err != nil {
		return err
	}
	proxyURL, err := proxyFromEnv(getenv)
	if err != nil {
		return err
	}
	c, err := egress.ConnectTunnel(ctx, proxyURL, hostport)
	var refused *egress.TunnelRefusedError
	if errors.As(err, &refused) {
		return fmt.Errorf("the run's proxy refused SSH to %s: %s", hostport, strings.TrimSpace(refused.Status+" "+refused.Reason))
	}
	if err != nil {
		return fmt.Errorf("SSH to %s: %w", hostport, err)
	}
	return egress.CarryTunnel(ctx, c, in, out)
}

// tunnelTarget is host:port, if both are valid.
func tunnelTarget(host, port string) (string, error) {
	if host == "" || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' }) {
		return "", fmt.Errorf("host %q: not a host name or address", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q: not a port number (1 to 65535)", port)
	}
	return net.JoinHostPort(host, port), nil
}

// proxyFromEnv is the proxy's URL from the first of proxyEnv that is set;
// one without a scheme is http://.
func proxyFromEnv(getenv func(string) string) (*url.URL, error) {
	for _, name := range proxyEnv {
		v := getenv(name)
		if v == "" {
			continue
		}
		if !strings.Contains(v, "://") {
			v = "http://" + v
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%s does not hold a proxy URL such as http://moat:TOKEN@127.0.0.1:3128", name)
		}
		return u, nil
	}
	return nil, fmt.Errorf("none of %s is set, so the run's proxy is unknown; 'moat proxy connect' only works inside a moat run", strings.Join(proxyEnv, ", "))
}
