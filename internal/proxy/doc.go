// Package proxy owns moat's per-run egress proxy: a TLS-intercepting
// forward proxy that sees the agent's HTTPS requests so credentials can be
// injected and egress allowed or refused per host.
//
// ca.go keeps one CA per user on disk (LoadOrCreateCA), whose PEM each run
// installs into the container's trust bundle; leaf.go mints a certificate
// per intercepted host and caches it (Leaves). Server (server.go,
// connect.go, inject.go) is the proxy itself: per-run token on every
// request, policy checks on names and on the addresses it dials, blind
// tunnels, TLS interception with credentials injected only inside TLS,
// streaming bodies, WebSockets, one Event per request. Running it for a
// run (its container and network) is the orchestrator's part, still to
// come.
package proxy
