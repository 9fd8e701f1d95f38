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
		return denyNone(host)
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
// private address is blocked in every mode, and a public one follows the mode.
func (p *Policy) checkIP(addr netip.Addr, port int) Decision {
	if r := p.ipRule(addr, port); r != nil {
		return allowedBy(r)
	}
	if class, private := p.classify(addr); private {
		return denyPrivate("", addr, class)
	}
	if p.Mode == Permissive {
		return Decision{Allowed: true, Rule: "network.policy permissive"}
	}
	return denyStrict(addr.String())
}

func (p *Policy) ipRule(addr netip.Addr, port int) *Rule {
	for i := range p.Allow {
		if p.Allow[i].matchesAddr(addr, port) {
			return &p.Allow[i]
		}
	}
	return nil
}

// CheckAddr is the second check, after DNS, on the address the proxy will
// dial for host. It only guards private destinations: a public address is
// allowed (CheckHost has already decided on the host), while a private,
// loopback or link-local one, or one in Private, is blocked in every mode
// unless host is mapped to exactly that address in Hosts or an IP or CIDR
// rule allows it on this port.
func (p *Policy) CheckAddr(host string, addr netip.Addr, port int) Decision {
	if p.Mode == None {
		return denyNone(host)
	}
	if !addr.IsValid() {
		return Decision{Rule: fmt.Sprintf("no valid address to dial for %+q", host)}
	}
	addr = addr.WithZone("").Unmap()
	class, private := p.classify(addr)
	if !private {
		return Decision{Allowed: true, Rule: "public address " + addr.String()}
	}
	name := normalizeHost(host)
	if mapped, ok := p.Hosts[name]; ok && mapped == addr {
		return Decision{Allowed: true, Rule: fmt.Sprintf("network.hosts %+q", name)}
	}
	if r := p.ipRule(addr, port); r != nil {
		return allowedBy(r)
	}
	return denyPrivate(name, addr, class)
}
