package launch

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/moatsh/moat/internal/routerctl"
	"github.com/moatsh/moat/internal/state"
)

// routerStarter makes sure the moat router of the moat home at home
// answers on listen; tests replace it.
var routerStarter = func(ctx context.Context, home, listen string) error {
	return routerctl.Starter{Home: home, Listen: listen}.Ensure(ctx)
}

// announcePorts is run.Options.Started: for a run that publishes ports it
// makes sure the router serves (starting it in the background unless
// config.yaml's router.auto is false) and says on stderr where each port
// is reached. Without a router the run goes on, with one warning line.
// eol ends each line ("\r\n" while the user's terminal is raw).
func (o *Options) announcePorts(ctx context.Context, home string, eol func() string) func(*state.Run) {
	return func(r *state.Run) {
		if len(r.Ports) == 0 {
			return
		}
		listen := o.routerFor(ctx, home, eol())
		writePublished(o.IO.ErrOut, r, listen, eol())
	}
}

// routerFor returns the address of the router of the moat home, started
// if need be, or "" when there is none, with a warning saying why.
func (o *Options) routerFor(ctx context.Context, home, eol string) string {
	settings, err := routerctl.Settings(home)
	if err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: moat router not started: %v%s", err, eol)
		return ""
	}
	listen := settings.ListenAddr()
	if settings.NoAuto { // one started by hand still serves
		if found, _ := routerctl.Probe(ctx, listen, home); found == routerctl.Ours {
			return listen
		}
		return ""
	}
	if err := routerStarter(ctx, home, listen); err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(o.IO.ErrOut, "warning: moat router not started: %v; to use another address, set router.listen in %s (e.g. router: {listen: %s})%s",
				err, filepath.Join(home, "config.yaml"), nextPort(listen), eol)
		}
		return ""
	}
	return listen
}

// nextPort is addr with the next port, as an example of another address.
func nextPort(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 65535 {
		return "127.0.0.1:8881"
	}
	return netip.AddrPortFrom(ap.Addr(), ap.Port()+1).String()
}

// writePublished says where each port r publishes is reached: through the
// router on listen by name, and on its host address ("" listen: there
// alone).
func writePublished(w io.Writer, r *state.Run, listen, eol string) {
	for i, p := range r.Ports {
		direct := "http://" + net.JoinHostPort(routerctl.Dialable(p.HostIP), strconv.Itoa(p.HostPort)) + "/"
		if listen == "" {
			fmt.Fprintf(w, "Published %s port %d: %s%s", r.Name, p.ContainerPort, direct, eol)
			continue
		}
		fmt.Fprintf(w, "Published %s port %d: %s (%s)%s", r.Name, p.ContainerPort,
			routerctl.URL(listen, r.Name, p.ContainerPort, i == 0), direct, eol)
	}
}
