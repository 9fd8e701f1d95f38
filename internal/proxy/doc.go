// Package proxy owns moat's per-run egress proxy: a TLS-intercepting
// forward proxy that sees the agent's HTTPS requests so credentials can be
// injected and egress allowed or refused per host.
//
// The proxy is being built. So far the package provides its certificate
// authority and leaf certificates: ca.go keeps one CA per user on disk
// (LoadOrCreateCA), whose PEM each run installs into the container's system
// trust bundle, and leaf.go mints a certificate per intercepted host and
// caches it (Leaves, used as tls.Config.GetCertificate).
package proxy
