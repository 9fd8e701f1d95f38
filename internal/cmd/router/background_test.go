package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/routerctl"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/testutil"
)

// The test binary is also 'moat router' when helperEnv is set: the
// background router a Starter runs, as the process of its own it is.
const (
	helperEnv = "ROUTER_TEST_HELPER"
	idleEnv   = "ROUTER_TEST_IDLE" // the helper's idle period
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "router" {
		os.Exit(runRouter(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// runRouter is 'moat router ARGS' over the moat home in $MOAT_HOME, with
// no engine (the runs are the stored records). Each start is counted in
// the home's "started" file.
func runRouter(args []string) int {
	home := os.Getenv("MOAT_HOME")
	if f, err := os.OpenFile(filepath.Join(home, "started"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintln(f, os.Getpid())
		f.Close()
	}
	f := &cmdutil.Factory{IOStreams: iostreams.System(),
		Store:   func() (*state.Store, error) { return &state.Store{Root: home}, nil },
		Manager: func(context.Context) (*run.Manager, error) { return nil, errors.New("no engine in this test") }}
	cmd := NewCmdRouter(f, func(ctx context.Context, o *Options) error {
		if d, err := time.ParseDuration(os.Getenv(idleEnv)); err == nil {
			o.Idle = d
		}
		return serve(ctx, o)
	})
	cmd.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// storeWith is a moat home holding the runs, each holding its name.
func storeWith(t *testing.T, runs ...*state.Run) *state.Store {
	t.Helper()
	store := &state.Store{Root: t.TempDir()}
	if err := store.IndexNames(); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if err := store.Create(r); err != nil {
			t.Fatal(err)
		}
		if err := store.TakeName(r.Name, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// backend is a server standing for a run's, saying body; its port.
func backend(t *testing.T, body string) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	return port
}

// getByName GETs path from the router on addr as host.
func getByName(addr, host, path string) (int, string, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// gone reports whether process pid has ended (and been reaped).
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// Two runs that find no router at once start one between them, in a
// session of its own; it routes by name while a run publishes a port,
// and exits by itself, its pid file removed, once none does for its idle
// period.
func TestBackgroundRouterStartsOnceAndExitsWhenIdle(t *testing.T) {
	web := &state.Run{ID: "aaa111bbb222", Name: "web", Status: state.Running,
		Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: backend(t, "served by web"), ContainerPort: 3000}}}
	store := storeWith(t, web)
	home, addr := store.Root, testutil.FreeLoopbackAddr(t)
	t.Setenv(helperEnv, "1")
	t.Setenv(idleEnv, "300ms")
	starter := routerctl.Starter{Home: home, Listen: addr, Exe: os.Args[0]}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = starter.Ensure(context.Background()) }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("Ensure: %v, %v", errs[0], errs[1])
	}
	started, _ := os.ReadFile(filepath.Join(home, "started"))
	if n := strings.Count(string(started), "\n"); n != 1 {
		t.Errorf("%d routers were started, want 1", n)
	}
	b, err := os.ReadFile(routerctl.PIDPath(home))
	if err != nil {
		t.Fatalf("the background router wrote no pid file: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("the router's session is %d (%v), want its own (%d): it must not end with the CLI's terminal or group", sid, err, pid)
	}
	if code, body, err := getByName(addr, "web.moat.localhost", "/"); err != nil || code != 200 || body != "served by web" {
		t.Errorf("web through the router: got %d %q %v", code, body, err)
	}

	time.Sleep(time.Second) // three idle periods: web still publishes its port
	if gone(pid) {
		t.Fatal("the router exited while a run published a port")
	}
	web.Status = state.Exited
	if err := store.Save(web); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the idle router to exit", func() bool { return gone(pid) })
	if _, err := os.Stat(routerctl.PIDPath(home)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pid file outlived the router: %v", err)
	}
	if found, err := routerctl.Probe(context.Background(), addr, home); found != routerctl.Nothing {
		t.Errorf("after the router exited, its address answers: %v %v", found, err)
	}
	log, _ := os.ReadFile(routerctl.LogPath(home))
	if !strings.Contains(string(log), "No active run has published a port for 300ms: stopping") {
		t.Errorf("the router's log does not say why it stopped:\n%s", log)
	}
}

// serveIn runs serve in the background; the channel gets its result.
func serveIn(t *testing.T, ctx context.Context, o *Options) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o) }()
	waitUntil(t, 5*time.Second, "the router to listen", func() bool {
		store, _ := o.Store()
		found, _ := routerctl.Probe(ctx, o.Listen, store.Root)
		return found == routerctl.Ours
	})
	return done
}

func testOptions(store *state.Store, listen string) *Options {
	ios, _, _, _ := iostreams.Test()
	return &Options{IO: ios, Listen: listen,
		Store: func() (*state.Store, error) { return store, nil },
		Runs:  func(context.Context) ([]*state.Run, error) { return store.List() }}
}

// A background router does not stop while a run holds the start lock (it
// is checking for a router, and would count on this one), and stops once
// the lock is free. A router started by hand never stops by itself.
func TestIdleRouterWaitsForTheLockAndForegroundStays(t *testing.T) {
	store := storeWith(t)
	unlock, err := routerctl.Lock(context.Background(), store.Root)
	if err != nil {
		t.Fatal(err)
	}
	bg := testOptions(store, testutil.FreeLoopbackAddr(t))
	bg.Background, bg.Idle = true, 50*time.Millisecond
	fg := testOptions(store, testutil.FreeLoopbackAddr(t))
	fg.Idle = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bgDone, fgDone := serveIn(t, ctx, bg), serveIn(t, ctx, fg)

	select {
	case err := <-bgDone:
		t.Fatalf("the background router stopped while a run held the lock: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-bgDone:
		if err != nil {
			t.Errorf("the idle router: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the idle background router did not stop once the lock was free")
	}
	select {
	case err := <-fgDone:
		t.Fatalf("the router started by hand stopped by itself: %v", err)
	default:
	}
	cancel()
	if err := <-fgDone; err != nil {
		t.Errorf("the router started by hand, interrupted: %v", err)
	}
}

// A second router on the address of the first says so.
func TestRouterOnATakenAddress(t *testing.T) {
	store := storeWith(t)
	o := testOptions(store, testutil.FreeLoopbackAddr(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serveIn(t, ctx, o)
	err := serve(ctx, testOptions(store, o.Listen))
	if err == nil || !strings.HasPrefix(err.Error(), "a moat router of this moat home already serves on "+o.Listen) {
		t.Errorf("got %v, want the router already there named", err)
	}
	err = serve(ctx, testOptions(storeWith(t), o.Listen))
	if err == nil || !strings.HasPrefix(err.Error(), "the moat router of another moat home serves on "+o.Listen) {
		t.Errorf("another home: got %v, want the other home's router named", err)
	}
	cancel()
	<-done
}

// A record that says a run publishes a port is checked with the engine (a
// run whose command ended unwatched is finished then); records that say
// none does need no engine.
func TestBusyChecksActiveRecordsWithTheEngine(t *testing.T) {
	stale := &state.Run{ID: "aaa111bbb222", Name: "web", Status: state.Running,
		Ports: []state.Port{{HostIP: "127.0.0.1", HostPort: 1, ContainerPort: 3000}}}
	store := storeWith(t, stale)
	o := testOptions(store, "")
	asked := 0
	o.Runs = func(context.Context) ([]*state.Run, error) {
		asked++
		ended := *stale
		ended.Status = state.Exited
		return []*state.Run{&ended}, nil
	}
	if o.busy(context.Background(), store) || asked != 1 {
		t.Errorf("a run the engine says ended: busy, or the engine asked %d times, want not busy after one question", asked)
	}
	if o.busy(context.Background(), storeWith(t, &state.Run{ID: "ccc333ddd444", Name: "quiet", Status: state.Running})) || asked != 1 {
		t.Errorf("no record with ports: busy, or the engine asked again (%d)", asked)
	}
	o.Runs = func(context.Context) ([]*state.Run, error) { return nil, errors.New("no store") }
	if !o.busy(context.Background(), store) {
		t.Error("runs that cannot be read: not busy, want the router kept")
	}
}
