// Package routerctl finds the moat router on its address, tells it from
// any other server there, and starts one in the background when a run
// that publishes ports finds none (docs/ports.md). The router itself,
// what it serves and when a background one exits, is 'moat router'
// (internal/cmd/router); both sides share what is here: the address and
// answer that identify a router, and the files under $MOAT_HOME/router.
package routerctl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/fsutil"
)

// Domain is the suffix of the names the router serves: *.localhost
// resolves to loopback in browsers, curl and systemd-resolved.
const Domain = ".moat.localhost"

// A router answers IdentPath on IdentHost (a name no run can have) with
// IdentHeader set to its moat home's HomeID: what tells it from another
// server on its address, and from the router of another moat home.
const (
	IdentHost   = "moat.localhost"
	IdentPath   = "/.moat/router"
	IdentHeader = "Moat-Router"
)

// HomeID names the moat home at path in the router's answer without
// giving the path away.
func HomeID(home string) string {
	sum := sha256.Sum256([]byte(home))
	return hex.EncodeToString(sum[:8])
}

// Dir is where the router's files are: its log and, while a background
// router runs, its pid file.
func Dir(home string) string { return filepath.Join(home, "router") }

// LogPath is the background router's output.
func LogPath(home string) string { return filepath.Join(Dir(home), "router.log") }

// PIDPath holds the process ID of the background router while it runs.
func PIDPath(home string) string { return filepath.Join(Dir(home), "router.pid") }

func lockPath(home string) string { return filepath.Join(Dir(home), "router.lock") }

// Settings are config.yaml's router: section in the moat home.
func Settings(home string) (config.Router, error) {
	g, err := config.LoadGlobal(filepath.Join(home, config.GlobalFileName))
	if err != nil {
		return config.Router{}, err
	}
	return g.Router, nil
}

// Lock takes the lock held by whoever starts a background router, from
// the check that none answers until the new one does, and by a background
// router from its last check that no run needs it until it stops
// listening: so two runs never start two routers, and a run never counts
// on one that is on its way out. It gives up when ctx ends.
func Lock(ctx context.Context, home string) (unlock func(), err error) {
	if err := os.MkdirAll(Dir(home), 0o700); err != nil {
		return nil, err
	}
	return fsutil.LockContext(ctx, lockPath(home), nil)
}

// Found is what answers on the router's address.
type Found int

const (
	// Nothing listens there.
	Nothing Found = iota
	// Ours is a moat router of this moat home.
	Ours
	// OtherHome is the moat router of another moat home, which routes to
	// that home's runs.
	OtherHome
	// Foreign is a server that is not a moat router.
	Foreign
)

// probeTimeout bounds one probe: a local server answers at once.
const probeTimeout = 2 * time.Second

// Probe asks what answers on addr.
func Probe(ctx context.Context, addr, home string) (Found, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return Nothing, nil
	}
	if err != nil {
		return Foreign, err
	}
	conn.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+IdentPath, nil)
	if err != nil {
		return Foreign, err
	}
	req.Host = IdentHost
	resp, err := client.Do(req)
	if err != nil {
		return Foreign, fmt.Errorf("it does not answer HTTP: %w", err)
	}
	resp.Body.Close()
	switch id := resp.Header.Get(IdentHeader); {
	case id == "":
		return Foreign, nil
	case id == HomeID(home):
		return Ours, nil
	default:
		return OtherHome, nil
	}
}

// Starter starts the background router of a moat home.
type Starter struct {
	Home   string // the moat home, absolute
	Listen string // the router's address
	// Exe is the moat binary to run as 'moat router'; "" is this
	// process's executable.
	Exe string
	// Ready bounds the wait for a started router to answer; 0 means 10 s.
	Ready time.Duration
}

// Ensure makes sure a moat router of the home answers on the address: it
// finds one, or starts one in the background, detached from this process
// (its own session, its output in LogPath), which exits once no active run
// publishes a port. The error says why there is none, for a warning: the
// run goes on without it.
func (s Starter) Ensure(ctx context.Context) error {
	found, err := s.probe(ctx)
	if found == Ours || err != nil {
		return err
	}
	lockCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	unlock, err := Lock(lockCtx, s.Home)
	if err != nil {
		return fmt.Errorf("waiting for the lock of %s: %w", Dir(s.Home), err)
	}
	defer unlock()
	// Another run may have started it, or a background one stopped,
	// while this one waited for the lock.
	if found, err := s.probe(ctx); found == Ours || err != nil {
		return err
	}
	return s.start(ctx)
}

// probe reports what is on the address, with an error when it is not this
// home's router and none can be started there.
func (s Starter) probe(ctx context.Context) (Found, error) {
	found, err := Probe(ctx, s.Listen, s.Home)
	switch found {
	case Foreign:
		if err != nil {
			return found, fmt.Errorf("%s is taken by a server that is not a moat router (%v)", s.Listen, err)
		}
		return found, fmt.Errorf("%s is taken by a server that is not a moat router", s.Listen)
	case OtherHome:
		return found, fmt.Errorf("%s is taken by the moat router of another moat home", s.Listen)
	}
	return found, nil
}

// start runs 'moat router --background' and waits until it answers.
func (s Starter) start(ctx context.Context) error {
	exe := s.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("finding moat's executable: %w", err)
		}
	}
	logPath := LogPath(s.Home)
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close() // the router has its own copy
	cmd := exec.Command(exe, "router", "--listen", s.Listen, "--background")
	cmd.Env = append(os.Environ(), "MOAT_HOME="+s.Home)
	cmd.Dir = "/" // it holds no workspace open
	cmd.Stdout, cmd.Stderr = log, log
	// Its own session: no signal for this process's group or terminal
	// (Ctrl-C, a closed terminal) reaches it, and it outlives this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting moat router: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait() // reaps it if it ends while this process lives
		close(exited)
	}()
	ready := s.Ready
	if ready == 0 {
		ready = 10 * time.Second
	}
	deadline := time.Now().Add(ready)
	for {
		if found, _ := Probe(ctx, s.Listen, s.Home); found == Ours {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("moat router ended at once: %s", lastLogLine(logPath))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moat router (pid %d) did not answer on %s within %s (see %s)", cmd.Process.Pid, s.Listen, ready, logPath)
		}
	}
}

// lastLogLine is the last line the router wrote, which says why it ended.
func lastLogLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log (" + err.Error() + ")"
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "no output (see " + path + ")"
	}
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// Dialable is the address to connect to for a port published on ip: its
// loopback if it was published on every address.
func Dialable(ip string) string {
	switch ip {
	case "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return ip
}

// URL is where the router reaches the port a run named name publishes
// from containerPort: NAME.moat.localhost for its first port, else
// PORT.NAME.moat.localhost.
func URL(listen, name string, containerPort int, first bool) string {
	host := name + Domain
	if !first {
		host = strconv.Itoa(containerPort) + "." + host
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		port = ""
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
