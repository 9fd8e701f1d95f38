package policy

import (
	"fmt"
	"net/netip"
)

// CheckHost decides whether a request to host:port may go ahead, before
// DNS. Host is a name or an IP literal, with or without IPv6 brackets.
// A declared network.hosts name is allowed in strict mode. An IP literal is
// also checked as CheckAddr would check it.
func (p *Policy) CheckHost(host string, port int) Decision {
	if p.Mode == None {
		return p.denyNone(host)
	}
	h := normalizeHost(host)
	if h == "" {
		return Decision{Rule: "request has no host", Hint: "send the request to a host name or IP address"}
	}
	if addr, ok := parseIP(h); ok {
		return p.checkIP(addr, port)
	}
	return p.checkName(h, port)
}

func (p *Policy) checkName(name string, port int) Decision {
	var portMiss *Rule
	for i := range p.Allow {
		r := &p.Allow[i]
		if !r.matchesName(name) {
			continue
		}
		if r.matchesPort(port) {
			return allowedBy(r)
		}
		if portMiss == nil {
			portMiss = r
		}
	}
	if _, ok := p.Hosts[name]; ok {
		if portMiss != nil {
			// The mapping says where the name goes; a rule naming its
			// ports says on which. It maps to a private address, so no
			// hint (see denyPrivate).
			d := denyPort(name, port, portMiss)
			d.Hint = ""
			return d
		}
		return Decision{Allowed: true, Rule: fmt.Sprintf("network.hosts %+q", name)}
	}
	if p.Mode == Permissive {
		return Decision{Allowed: true, Rule: "network.policy permissive"}
	}
	if portMiss != nil {
		return denyPort(name, port, portMiss)
	}
	return denyStrict(name)
}

// checkIP checks an IP literal request: an IP rule allows it; otherwise a
// private address is blocked in every mode, and a public one follows the
// mode. The host's own addresses need a rule naming exactly that address.
func (p *Policy) checkIP(addr netip.Addr, port int) Decision {
	class, private, own := p.classify(addr)
	if r := p.ipRule(addr, port, own); r != nil {
		return allowedBy(r)
	}
	if private {
		return denyPrivate("", addr, class)
	}
	if p.Mode == Permissive {
		return Decision{Allowed: true, Rule: "network.policy permissive"}
	}
	return denyStrict(addr.String())
}

// ipRule returns the first IP or CIDR rule that allows addr on port; with
// exact, only a rule naming addr alone (a /32 or /128) counts.
func (p *Policy) ipRule(addr netip.Addr, port int, exact bool) *Rule {
	for i := range p.Allow {
		r := &p.Allow[i]
		if r.matchesAddr(addr, port) && (!exact || r.Prefix.IsSingleIP()) {
			return r
		}
	}
	return nil
}

// CheckAddr is the second check, after DNS, on the address the proxy will
// dial for host. It only guards private destinations: a public address is
// allowed (CheckHost has already decided on the host), while a private,
// loopback, link-local or other special-purpose one, or one in Private, is
// blocked in every mode unless host is mapped to exactly that address in
// Hosts or an IP or CIDR rule allows it on this port. The host's own
// addresses (loopback, and those Local reports) are allowed only by a
// mapping or an IP rule naming exactly that address: a CIDR rule for a
// network the host is on does not open the host itself.
func (p *Policy) CheckAddr(host string, addr netip.Addr, port int) Decision {
	if p.Mode == None {
		return p.denyNone(host)
	}
	if !addr.IsValid() {
		return Decision{Rule: fmt.Sprintf("no valid address to dial for %+q", host)}
	}
	addr = addr.WithZone("").Unmap()
	class, private, own := p.classify(addr)
	if !private {
		return Decision{Allowed: true, Rule: "public address " + addr.String()}
	}
	return p.explicitly(host, addr, port, class, own)
}

// CheckOwnAddr checks a connection the proxy made to host at addr, which
// turned out to be one of the host's own addresses (the connection's local
// and remote addresses are the same): an address added to the host after
// Local last looked. It applies CheckAddr's rule for the host's own
// addresses.
func (p *Policy) CheckOwnAddr(host string, addr netip.Addr, port int) Decision {
	if p.Mode == None {
		return p.denyNone(host)
	}
	addr = addr.WithZone("").Unmap()
	class, _, own := p.classify(addr)
	if !own {
		class = ownClass
	}
	return p.explicitly(host, addr, port, class, true)
}

// explicitly allows a blocked addr only through a network.hosts mapping of
// host to exactly addr, or an IP or CIDR rule (an IP rule if exact).
func (p *Policy) explicitly(host string, addr netip.Addr, port int, class string, exact bool) Decision {
	name := normalizeHost(host)
	if mapped, ok := p.Hosts[name]; ok && mapped == addr {
		return Decision{Allowed: true, Rule: fmt.Sprintf("network.hosts %+q", name)}
	}
	if r := p.ipRule(addr, port, exact); r != nil {
		return allowedBy(r)
	}
	return denyPrivate(name, addr, class)
}
