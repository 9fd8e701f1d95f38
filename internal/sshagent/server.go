package sshagent

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// A Key is one granted SSH key and the hosts it may sign for.
type Key struct {
	// Grant names the grant the key comes from, for the audit log.
	Grant   string
	Backend Backend
	Hosts   []Host
}

// A Host is a destination a key is granted for.
type Host struct {
	// Name is the host as the grant names it ("github.com", or
	// "host:port" for another port than 22); Config.Confirm receives it.
	Name string
	// Keys are the host keys the host may present (from known_hosts or
	// pinned in the grant).
	Keys []ssh.PublicKey
}

// Config is what a Server serves.
type Config struct {
	Keys []Key
	// Confirm is the proxy's view of the destination: it returns nil only
	// if a tunnel of this run to host presented hostKey. Required.
	Confirm func(host string, hostKey ssh.PublicKey) error
	// Audit receives every signature and refusal, from the goroutines of
	// the client connections concurrently. Nil drops them.
	Audit func(Event)
}

// A Server holds the granted keys and makes an agent per client
// connection. It is safe for concurrent use.
type Server struct {
	cfg  Config
	keys map[string]*Key // by the key's wire encoding

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	serving   sync.WaitGroup
}

// New checks the configuration and returns a Server for it.
func New(cfg Config) (*Server, error) {
	if cfg.Confirm == nil {
		return nil, errors.New("ssh agent: Config.Confirm is required: without the proxy's view of the destination no signature could be checked")
	}
	if cfg.Audit == nil {
		cfg.Audit = func(Event) {}
	}
	s := &Server{cfg: cfg, keys: map[string]*Key{}, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
	for i := range cfg.Keys {
		k := &cfg.Keys[i]
		if err := checkKey(k); err != nil {
			return nil, err
		}
		blob := string(k.Backend.PublicKey().Marshal())
		if other, dup := s.keys[blob]; dup {
			return nil, fmt.Errorf("ssh grants %q and %q hold the same key %s: give each key one grant, with all its hosts",
				other.Grant, k.Grant, ssh.FingerprintSHA256(k.Backend.PublicKey()))
		}
		s.keys[blob] = k
	}
	return s, nil
}

func checkKey(k *Key) error {
	switch {
	case k.Grant == "":
		return errors.New("ssh agent: a key has no grant name")
	case k.Backend == nil || k.Backend.PublicKey() == nil:
		return fmt.Errorf("ssh grant %q has no key", k.Grant)
	case len(k.Hosts) == 0:
		return fmt.Errorf("ssh grant %q has no host: a key signs only for the hosts it is granted for", k.Grant)
	}
	for _, h := range k.Hosts {
		if h.Name == "" || len(h.Keys) == 0 {
			return fmt.Errorf("ssh grant %q: host %q has no host key: without one no session with it can be checked", k.Grant, h.Name)
		}
	}
	return nil
}

// hostsPresenting lists the key's hosts that hostKey is a known key of.
func (k *Key) hostsPresenting(hostKey ssh.PublicKey) []string {
	blob := hostKey.Marshal()
	var names []string
	for _, h := range k.Hosts {
		for _, hk := range h.Keys {
			if bytes.Equal(hk.Marshal(), blob) {
				names = append(names, h.Name)
				break
			}
		}
	}
	return names
}

// NewAgent returns the agent for one client connection: session bindings
// are per connection, as in OpenSSH's agent. Serve it with
// agent.ServeAgent; Serve does so for a listener.
func (s *Server) NewAgent() agent.ExtendedAgent {
	return &connAgent{srv: s}
}
