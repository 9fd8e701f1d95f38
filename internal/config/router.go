package config

import (
	"fmt"
	"net/netip"

	"github.com/goccy/go-yaml/ast"
)

// DefaultRouterListen is where 'moat router' serves unless config.yaml's
// router.listen (or --listen) says otherwise.
const DefaultRouterListen = "127.0.0.1:8880"

// Router is config.yaml's router: section: where 'moat router' serves
// NAME.moat.localhost, and whether a run that publishes ports starts it.
type Router struct {
	// Listen is the loopback address and port it serves on; "" means
	// DefaultRouterListen.
	Listen string
	// NoAuto is router.auto: false: a run never starts the router, which
	// then serves only when started by hand.
	NoAuto bool
}

// ListenAddr is Listen, or the default.
func (r Router) ListenAddr() string {
	if r.Listen == "" {
		return DefaultRouterListen
	}
	return r.Listen
}

var routerFields = []string{"auto", "listen"}

// CheckRouterListen reports why addr cannot be the router's address: it
// must be a loopback address with a port, since the router reaches every
// run's published ports.
func CheckRouterListen(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
		return fmt.Errorf("%q is not a loopback address and port, e.g. %s: the router reaches every run's ports, so only this machine may reach it", addr, DefaultRouterListen)
	}
	return nil
}

// router decodes config.yaml's router: section.
func (d *decoder) router(at ast.Node) (Router, error) {
	var r Router
	err := d.section(at, "router", "{listen: 127.0.0.1:8880, auto: true}", routerFields, func(key string, v ast.Node) error {
		switch key {
		case "listen":
			s, err := d.str(v, "router.listen")
			if err != nil {
				return err
			}
			if err := CheckRouterListen(s); err != nil {
				return d.errorf(v, "Write a loopback address and a port, e.g. 127.0.0.1:8881 (\"[::1]:8880\" for IPv6, quoted).",
					"router.listen: %v", err)
			}
			r.Listen = s
		case "auto":
			auto, err := d.boolean(v, "router.auto")
			if err != nil {
				return err
			}
			r.NoAuto = !auto
		}
		return nil
	})
	if err != nil {
		return Router{}, err
	}
	return r, nil
}
