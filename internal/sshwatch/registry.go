package sshwatch

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/moatsh/moat/internal/plural"
)

// DefaultMaxTunnels is how many tunnels a Registry holds at once when
// MaxTunnels is 0: far more SSH connections than a run makes at once.
const DefaultMaxTunnels = 256

// A Registry is one run's view of its open SSH tunnels: for each, the
// address it goes to and the host key its server presented. A record
// lasts exactly as long as its tunnel is open: a signature must belong to
// a connection that is live, and a key seen on a closed tunnel says
// nothing about the next one.
//
// Addresses are compared as host:port, the host lower-cased without a
// final dot (IP addresses in their canonical form), with port 22 when
// none is given: the grant's "github.com" is the tunnel to
// "github.com:22", "git.example:2222" (or "[git.example]:2222") the tunnel
// to that port. Names are not resolved: a tunnel to github.com's address
// is not a tunnel to github.com.
//
// The zero value is ready to use; a Registry is safe for concurrent use.
type Registry struct {
	// MaxTunnels bounds how many tunnels are watched and recorded at once;
	// 0 means DefaultMaxTunnels. Beyond it, Watch passes a tunnel through
	// unwatched and Record refuses: an agent opening many tunnels only
	// denies itself signatures.
	MaxTunnels int
	// OnResult, if not nil, is called once per watched tunnel with its
	// address (as Confirm compares it) and the host key its server
	// presented or, with a nil key, why none was seen: for the audit log. It is called on the goroutine reading the
	// tunnel, before the bytes that carried the key are returned (or on
	// the one closing it, if it ends first), and must not block.
	OnResult func(addr string, hostKey ssh.PublicKey, err error)

	mu      sync.Mutex
	tunnels map[*tunnel]struct{}
	// unwatched counts the tunnels passed through unwatched because the
	// registry was full, for Confirm's error.
	unwatched int
}

// A tunnel is one open tunnel's record.
type tunnel struct {
	addr string // canonical, see canonicalAddr
	key  ssh.PublicKey
	blob []byte // key's wire encoding
	err  error  // why no key was seen, once known
}

// ErrFull is Record's error when MaxTunnels tunnels are recorded.
var ErrFull = errors.New("too many SSH tunnels open at once")

// Record notes that a tunnel to addr presented hostKey, until release is
// called, when the tunnel closes. Watch makes such a record for each
// tunnel it watches; Record is for a tunnel that learnt its key otherwise.
func (r *Registry) Record(addr string, hostKey ssh.PublicKey) (release func(), err error) {
	if hostKey == nil {
		return nil, errors.New("recording a tunnel's host key: no key")
	}
	t := &tunnel{addr: canonicalAddr(addr)}
	if !r.add(t) {
		return nil, fmt.Errorf("recording the host key of the tunnel to %s: %w (%d)", t.addr, ErrFull, r.max())
	}
	r.set(t, hostKey, nil)
	return func() { r.remove(t) }, nil
}

// Confirm returns nil if an open tunnel of the run to host presented
// hostKey (the question the run's SSH agent asks before it signs), or an
// error saying what the run's tunnels to host presented instead.
func (r *Registry) Confirm(host string, hostKey ssh.PublicKey) error {
	if hostKey == nil {
		return errors.New("confirming a host key: no key")
	}
	addr, blob := canonicalAddr(host), hostKey.Marshal()
	r.mu.Lock()
	defer r.mu.Unlock()
	var others []string
	for t := range r.tunnels {
		if t.addr != addr {
			continue
		}
		if t.key != nil && bytes.Equal(t.blob, blob) {
			return nil
		}
		others = append(others, t.describe())
	}
	want := ssh.FingerprintSHA256(hostKey)
	if len(others) == 0 {
		err := fmt.Errorf("no open SSH tunnel of this run goes to %s", addr)
		if r.unwatched > 0 {
			err = fmt.Errorf("%w (%s went unwatched: more than %d were open at once)", err, plural.Count(r.unwatched, "tunnel"), r.max())
		}
		return err
	}
	slices.Sort(others)
	return fmt.Errorf("no open SSH tunnel of this run to %s presented host key %s: %s", addr, want, strings.Join(compact(others), "; "))
}

// AddrsPresenting lists the addresses (as Confirm compares them) of the
// open tunnels whose server presented the host key with the SHA256
// fingerprint given: where a session bound to that key goes, for the
// audit log of a signature refused for it.
func (r *Registry) AddrsPresenting(fingerprint string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var addrs []string
	for t := range r.tunnels {
		if t.key != nil && ssh.FingerprintSHA256(t.key) == fingerprint && !slices.Contains(addrs, t.addr) {
			addrs = append(addrs, t.addr)
		}
	}
	slices.Sort(addrs)
	return addrs
}

// describe says what a tunnel that did not present the wanted key showed.
func (t *tunnel) describe() string {
	switch {
	case t.key != nil:
		return "one presented " + ssh.FingerprintSHA256(t.key)
	case t.err != nil:
		return "one showed no host key: " + t.err.Error()
	}
	return "one has not shown its host key yet"
}

// compact merges equal descriptions and keeps a few.
func compact(sorted []string) []string {
	const most = 4
	var out []string
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j] == sorted[i] {
			j++
		}
		if n := j - i; n > 1 {
			out = append(out, fmt.Sprintf("%s (%d tunnels)", sorted[i], n))
		} else {
			out = append(out, sorted[i])
		}
		i = j
	}
	if len(out) > most {
		out = append(out[:most], fmt.Sprintf("and %d more", len(out)-most))
	}
	return out
}

func (r *Registry) max() int {
	if r.MaxTunnels > 0 {
		return r.MaxTunnels
	}
	return DefaultMaxTunnels
}

// add adds t, reporting false if the registry is full.
func (r *Registry) add(t *tunnel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tunnels) >= r.max() {
		return false
	}
	if r.tunnels == nil {
		r.tunnels = map[*tunnel]struct{}{}
	}
	r.tunnels[t] = struct{}{}
	return true
}

func (r *Registry) set(t *tunnel, key ssh.PublicKey, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.key, t.err = key, err
	if key != nil {
		t.blob = key.Marshal()
	}
}

func (r *Registry) remove(t *tunnel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tunnels, t)
}

func (r *Registry) countUnwatched() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unwatched++
}

// canonicalAddr is addr as host:port: the host lower-cased without a final
// dot, an IP address in its canonical form, port 22 unless addr names one,
// a port number without leading zeros.
func canonicalAddr(addr string) string {
	host, port := addr, "22"
	if h, p, err := net.SplitHostPort(addr); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") {
		host = addr[1 : len(addr)-1]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10)
	}
	return net.JoinHostPort(host, port)
}
