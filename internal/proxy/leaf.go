package proxy

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	leafValidity     = 30 * 24 * time.Hour
	leafRenewBefore  = 24 * time.Hour // mint anew this long before expiry
	defaultMaxLeaves = 1024
)

// Leaves mints leaf certificates signed by a CA and caches them per host,
// evicting the least recently used beyond 1024 hosts. Concurrent requests
// for one host mint once. Make one with NewLeaves; it is safe for
// concurrent use.
type Leaves struct {
	ca  *CA
	now func() time.Time
	max int // cache bound

	mu       sync.Mutex
	byHost   map[string]*list.Element // values are *leafEntry
	lru      *list.List               // most recently used first
	inflight map[string]*mintCall

	mints atomic.Int64 // leaves minted, for tests
}

type leafEntry struct {
	host    string
	cert    *tls.Certificate
	renewAt time.Time
}

// mintCall is one mint in progress that other callers wait for.
type mintCall struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// NewLeaves returns a cache of leaf certificates signed by ca. A nil now
// means time.Now.
func NewLeaves(ca *CA, now func() time.Time) *Leaves {
	if now == nil {
		now = time.Now
	}
	return &Leaves{
		ca:       ca,
		now:      now,
		max:      defaultMaxLeaves,
		byHost:   make(map[string]*list.Element),
		lru:      list.New(),
		inflight: make(map[string]*mintCall),
	}
}

// GetCertificate returns the leaf for the client's server name (SNI), for
// use as tls.Config.GetCertificate. Clients send no SNI for IP literals, so
// a proxy wraps it and calls For with the CONNECT host when
// hello.ServerName is empty.
func (l *Leaves) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		return nil, errors.New("choosing a leaf certificate: the client sent no server name; pass the CONNECT host to For")
	}
	return l.For(hello.ServerName)
}

// For returns the leaf certificate for host, a DNS name or IP address with
// an optional port, minting it if it is not cached or is within a day of
// expiry. Leaves are ECDSA P-256, for server auth, valid from an hour ago
// for 30 days (no later than the CA).
func (l *Leaves) For(host string) (*tls.Certificate, error) {
	name, err := canonicalHost(host)
	if err != nil {
		return nil, err
	}
	now := l.now()
	l.mu.Lock()
	if cert := l.cachedLocked(name, now); cert != nil {
		l.mu.Unlock()
		return cert, nil
	}
	call, waiting := l.inflight[name]
	if !waiting {
		call = &mintCall{done: make(chan struct{})}
		l.inflight[name] = call
	}
	l.mu.Unlock()
	if !waiting {
		l.mintAndStore(name, now, call)
	}
	<-call.done
	return call.cert, call.err
}

// cachedLocked returns the cached leaf for name if it is not due for
// renewal, marking it recently used.
func (l *Leaves) cachedLocked(name string, now time.Time) *tls.Certificate {
	e, ok := l.byHost[name]
	if !ok {
		return nil
	}
	entry := e.Value.(*leafEntry)
	if !now.Before(entry.renewAt) {
		l.removeLocked(e)
		return nil
	}
	l.lru.MoveToFront(e)
	return entry.cert
}

func (l *Leaves) mintAndStore(name string, now time.Time, call *mintCall) {
	entry, err := l.mint(name, now)
	l.mu.Lock()
	delete(l.inflight, name)
	if err == nil {
		l.storeLocked(entry)
		call.cert = entry.cert
	}
	call.err = err
	l.mu.Unlock()
	close(call.done)
}

func (l *Leaves) storeLocked(entry *leafEntry) {
	if old, ok := l.byHost[entry.host]; ok {
		l.removeLocked(old)
	}
	l.byHost[entry.host] = l.lru.PushFront(entry)
	for l.lru.Len() > l.max {
		l.removeLocked(l.lru.Back())
	}
}

func (l *Leaves) removeLocked(e *list.Element) {
	delete(l.byHost, e.Value.(*leafEntry).host)
	l.lru.Remove(e)
}

func (l *Leaves) mint(name string, now time.Time) (*leafEntry, error) {
	l.mints.Add(1)
	caExpiry := l.ca.cert.NotAfter
	if !now.Before(caExpiry) {
		return nil, fmt.Errorf("minting a certificate for %q: the moat CA expired on %s", name, caExpiry.Format(time.DateOnly))
	}
	tmpl, err := leafTemplate(name, now, caExpiry)
	if err != nil {
		return nil, fmt.Errorf("minting a certificate for %q: %w", name, err)
	}
	cert, err := l.sign(tmpl)
	if err != nil {
		return nil, fmt.Errorf("minting a certificate for %q: %w", name, err)
	}
	renewAt := tmpl.NotAfter.Add(-leafRenewBefore)
	if tmpl.NotAfter.Equal(caExpiry) {
		renewAt = caExpiry // a new leaf could last no longer
	}
	return &leafEntry{host: name, cert: cert, renewAt: renewAt}, nil
}

func (l *Leaves) sign(tmpl *x509.Certificate) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, l.ca.cert, key.Public(), l.ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: append([][]byte{der}, l.ca.chain...), PrivateKey: key, Leaf: leaf}, nil
}

func leafTemplate(name string, now, caExpiry time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-backdate),
		NotAfter:              minTime(now.Add(leafValidity), caExpiry),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if len(name) <= 64 { // the longest common name X.509 allows
		tmpl.Subject = pkix.Name{CommonName: name}
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	} else {
		tmpl.DNSNames = []string{name}
	}
	return tmpl, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// canonicalHost turns a host as a client names it ("Example.COM.",
// "example.com:443", "[::1]:443") into the cache key and certificate name:
// lower-case, with no trailing dot, port or brackets; IP addresses in
// their canonical form.
func canonicalHost(host string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(stripPort(host), "."))
	if ip, err := netip.ParseAddr(name); err == nil {
		if ip.Zone() != "" {
			return "", fmt.Errorf("invalid host %q: an IP address with a zone cannot be certified", host)
		}
		return ip.Unmap().String(), nil
	}
	if err := checkDNSName(name); err != nil {
		return "", fmt.Errorf("invalid host %q: %w", host, err)
	}
	return name, nil
}

func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1]
	}
	return host
}

// checkDNSName accepts names of letters, digits, hyphens and underscores
// (which real hosts use), in labels of 1 to 63 characters.
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > 253 {
		return errors.New("longer than 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if err := checkLabel(label); err != nil {
			return err
		}
	}
	return nil
}

func checkLabel(label string) error {
	switch {
	case label == "":
		return errors.New("empty label")
	case len(label) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", label)
	case label[0] == '-' || label[len(label)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen", label)
	}
	for _, r := range label {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q is not allowed in a host name", r)
		}
	}
	return nil
}
