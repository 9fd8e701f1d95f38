// Package router implements 'moat router': one HTTP port on the host's
// loopback that routes NAME.moat.localhost to the published port of the
// active run named NAME, so that runs serving on the same port in their
// containers are reached by name. A run that publishes ports starts one
// in the background when none answers (internal/routerctl); that one
// exits once no active run publishes a port.
package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/routerctl"
	"github.com/moatsh/moat/internal/state"
)

// defaultIdle is how long a background router serves on once no active
// run publishes a port: a run started again soon after finds it there.
const defaultIdle = 60 * time.Second

// Options are the flags of 'moat router'.
type Options struct {
	IO    *iostreams.IOStreams
	Store func() (*state.Store, error)
	// Runs returns every run, its state checked with the engine when it
	// answers: a background router stops when none is active with ports.
	Runs func(context.Context) ([]*state.Run, error)

	Listen string
	// Background is a router a run started: it writes its pid file and
	// exits once no active run has published a port for Idle.
	Background bool
	Idle       time.Duration
}

// NewCmdRouter builds the command; runF replaces the work in tests.
func NewCmdRouter(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Store: f.Store, Runs: func(ctx context.Context) ([]*state.Run, error) {
		runs, _, err := cmdutil.LoadRuns(ctx, f)
		if runs != nil {
			return runs, nil // the stored records when the engine is away
		}
		return nil, err
	}}
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Route NAME.moat.localhost to the published ports of runs",
		Long: `Serve HTTP on one port of the host's loopback and route each request by
its Host header: NAME.moat.localhost goes to the first published port of
the active run named NAME, PORT.NAME.moat.localhost to the one it
publishes from port PORT in its container. Runs serving on the same port
are then reached by name, whatever host ports they got
(docs/ports.md).

A run that publishes ports starts the router in the background when none
answers on its address (config.yaml's router.listen), and that one exits
once no active run publishes a port. Started by hand, it runs until
interrupted.`,
		Example: `  $ moat run -d --name web -p 3000 ./web -- ./serve.sh
  $ moat run -d --name api -p 3000 ./api -- ./serve.sh
  $ curl http://web.moat.localhost:8880/
  $ curl http://api.moat.localhost:8880/`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("listen") {
				if err := opts.defaultListen(); err != nil {
					return err
				}
			}
			if err := config.CheckRouterListen(opts.Listen); err != nil {
				return cmdutil.FlagErrorf("--listen: %v", err)
			}
			if opts.Background {
				opts.Idle = idleAfter()
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serve(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", config.DefaultRouterListen, "Loopback `address` to serve on (default: config.yaml's router.listen, else 127.0.0.1:8880)")
	cmd.Flags().Lookup("listen").DefValue = ""
	cmd.Flags().BoolVar(&opts.Background, "background", false, "Started by a run: exit once no active run publishes a port")
	cmd.Flags().MarkHidden("background")
	return cmd
}

// defaultListen takes config.yaml's router.listen.
func (o *Options) defaultListen() error {
	store, err := o.Store()
	if err != nil {
		return err
	}
	r, err := routerctl.Settings(store.Root)
	if err != nil {
		return err
	}
	o.Listen = r.ListenAddr()
	return nil
}

func serve(ctx context.Context, o *Options) error {
	store, err := o.Store()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return listenError(ctx, o.Listen, store.Root, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(o.IO.ErrOut, "Routing http://NAME%s:%d/ to the published ports of the run named NAME\n", routerctl.Domain, port)
	srv := &http.Server{Handler: &router{store: store, homeID: routerctl.HomeID(store.Root)}, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	if o.Background {
		if err := writePID(store.Root); err != nil {
			ln.Close()
			return err
		}
		defer removePID(store.Root)
		go func() {
			defer close(stopped)
			if unlock := o.untilIdle(ctx, store); unlock != nil {
				fmt.Fprintf(o.IO.ErrOut, "No active run has published a port for %s: stopping\n", o.Idle)
				shutdown(srv) // no longer listening when the lock goes
				unlock()
			}
		}()
	} else {
		close(stopped)
	}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}

// shutdown stops listening at once and gives requests under way a few
// seconds to end.
func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
}

// listenError says why the router cannot serve on addr, naming a router
// that is there already.
func listenError(ctx context.Context, addr, home string, err error) error {
	switch found, _ := routerctl.Probe(ctx, addr, home); found {
	case routerctl.Ours:
		return fmt.Errorf("a moat router of this moat home already serves on %s (a run starts one in the background; it stops once no run publishes a port)", addr)
	case routerctl.OtherHome:
		return fmt.Errorf("the moat router of another moat home serves on %s; choose another address with --listen or config.yaml's router.listen", addr)
	}
	return fmt.Errorf("listening on %s: %w; choose another address with --listen or config.yaml's router.listen", addr, err)
}

// untilIdle returns once no active run has published a port for o.Idle,
// holding routerctl's lock (so that no run counts on this router from
// then on), or nil when ctx ends first.
func (o *Options) untilIdle(ctx context.Context, store *state.Store) (unlock func()) {
	tick := min(max(o.Idle/4, 100*time.Millisecond), 15*time.Second)
	busySince := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tick):
		}
		if o.busy(ctx, store) {
			busySince = time.Now()
			continue
		}
		if time.Since(busySince) < o.Idle {
			continue
		}
		// A run starting now holds the lock while it checks for a router:
		// try again later rather than leave it one that is stopping.
		lockCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		unlock, err := routerctl.Lock(lockCtx, store.Root)
		cancel()
		if err != nil {
			continue
		}
		if o.busy(ctx, store) { // one started before it took the lock
			unlock()
			busySince = time.Now()
			continue
		}
		return unlock
	}
}

// busy reports whether an active run publishes a port. The records
// answer alone when none says so; else they are checked with the engine
// (a run whose command ended unwatched is finished then). When the runs
// cannot be read, it is: the router stays rather than leave a run
// without it.
func (o *Options) busy(ctx context.Context, store *state.Store) bool {
	if runs, err := store.List(); err == nil && !publishing(runs) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	runs, err := o.Runs(ctx)
	if err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: reading the runs: %v\n", err)
		return true
	}
	return publishing(runs)
}

// publishing reports whether one of runs is active and publishes a port.
func publishing(runs []*state.Run) bool {
	for _, r := range runs {
		if r.Status.Active() && len(r.Ports) > 0 {
			return true
		}
	}
	return false
}

func writePID(home string) error {
	if err := os.MkdirAll(routerctl.Dir(home), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(routerctl.PIDPath(home), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
}

// removePID removes the pid file if it is still this process's.
func removePID(home string) {
	if b, err := os.ReadFile(routerctl.PIDPath(home)); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(routerctl.PIDPath(home))
	}
}

// router routes each request by its Host header.
type router struct {
	store  *state.Store
	homeID string
}

func (rt *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if host, _, _ := net.SplitHostPort(req.Host); (host == routerctl.IdentHost || req.Host == routerctl.IdentHost) && req.URL.Path == routerctl.IdentPath {
		w.Header().Set(routerctl.IdentHeader, rt.homeID)
		fmt.Fprintln(w, "moat router")
		return
	}
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
	label, ok := strings.CutSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), routerctl.Domain)
	if !ok || label == "" {
		return nil, fmt.Errorf("%q is not NAME%s", host, routerctl.Domain)
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
			return &url.URL{Scheme: "http", Host: net.JoinHostPort(routerctl.Dialable(p.HostIP), strconv.Itoa(p.HostPort))}, nil
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
