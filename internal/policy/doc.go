// Package policy owns moat's egress rules: it parses network.allow rules,
// grant hosts and network.hosts mappings, and decides whether the per-run
// proxy may forward a request to a host and dial an address. It is pure: it
// does no I/O, no DNS and no logging, and imports only the standard library.
//
// A request's destination is checked twice. CheckHost runs on the host the agent asked
// for, before DNS. CheckAddr runs on the address the proxy is about to dial,
// after DNS, and blocks private, loopback and link-local destinations unless
// the user allowed that address (an IP or CIDR rule) or declared the name
// under network.hosts. A request is forwarded only if both allow it, and
// then, for a host whose network.allow entry lists methods or paths,
// CheckRequest checks each HTTP request's method and path (Requests).
package policy
