// Package router implements 'moat router': one HTTP port on the host's
// loopback that routes NAME.moat.localhost to the published port of the
// active run named NAME, so that runs serving on the same port in their
// containers are reached by name.
package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/state"
)

// Domain is the suffix of the names the router serves: *.localhost
// resolves to loopback in browsers, curl and systemd-resolved.
const Domain = ".moat.localhost"

// Options are the flags of 'moat router'.
type Options struct {
	IO    *iostreams.IOStreams
	Store func() (*state.Store, error)

	Listen string
}

// NewCmdRouter builds the command; runF replaces the work in tests.
func NewCmdRouter(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Route NAME.moat.localhost to the published ports of runs",
		Long: `Serve HTTP on one port of the host's loopback and route each request by
its Host header: NAME.moat.localhost goes to the first published port of
the active run named NAME, PORT.NAME.moat.localhost to the one it
publishes from port PORT in its container. Runs serving on the same port
are then reached by name, whatever host ports they got
(docs/ports.md). It runs until interrupted.`,
		Example: `  $ moat run -d --name web -p 3000 ./web -- ./serve.sh
  $ moat run -d --name api -p 3000 ./api -- ./serve.sh
  $ moat router &
  $ curl http://web.moat.localhost:8880/
  $ curl http://api.moat.localhost:8880/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := netip.ParseAddrPort(opts.Listen)
			if err != nil || !addr.Addr().IsLoopback() {
				return cmdutil.FlagErrorf("--listen %q: want a loopback address and port, e.g. 127.0.0.1:8880: the router reaches every run's ports", opts.Listen)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serve(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:8880", "Loopback `address` to serve on")
	return cmd
}

func serve(ctx context.Context, o *Options) error {
	store, err := o.Store()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(o.IO.ErrOut, "Routing http://NAME%s:%d/ to the published ports of the run named NAME\n", Domain, port)
	srv := &http.Server{Handler: &router{store: store}, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// router routes each request by its Host header.
type router struct {
	store *state.Store
}

func (rt *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	target, err := rt.target(req.Host)
	if err != nil {
		http.Error(w, "moat router: "+err.Error(), http.StatusNotFound)
		return
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the run's server sees the name it was asked by
		pr.SetXForwarded()
	}}
	proxy.ServeHTTP(w, req)
}

// target is the published host address the name in host leads to.
func (rt *router) target(host string) (*url.URL, error) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, ok := strings.CutSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), Domain)
	if !ok || label == "" {
		return nil, fmt.Errorf("%q is not NAME%s", host, Domain)
	}
	name, want := label, 0
	if p, rest, found := strings.Cut(label, "."); found {
		if n, err := strconv.Atoi(p); err == nil { // PORT.NAME; a name may hold dots
			name, want = rest, n
		}
	}
	r, err := rt.activeRun(name)
	if err != nil {
		return nil, err
	}
	for _, p := range r.Ports {
		if want == 0 || p.ContainerPort == want {
			return &url.URL{Scheme: "http", Host: net.JoinHostPort(dialable(p.HostIP), strconv.Itoa(p.HostPort))}, nil
		}
	}
	if want != 0 {
		return nil, fmt.Errorf("run %s publishes no port %d", name, want)
	}
	return nil, fmt.Errorf("run %s publishes no port (moat run -p)", name)
}

// activeRun is the running run named name.
func (rt *router) activeRun(name string) (*state.Run, error) {
	id, _, err := rt.store.NameHolder(name)
	if err != nil || id == "" {
		return nil, fmt.Errorf("no active run is named %q", name)
	}
	r, err := rt.store.Load(id)
	if err != nil || r.Status != state.Running {
		return nil, fmt.Errorf("no active run is named %q", name)
	}
	return r, nil
}

// dialable is the address to connect to for a port published on ip: its
// loopback if it was published on every address.
func dialable(ip string) string {
	switch ip {
	case "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return ip
}
