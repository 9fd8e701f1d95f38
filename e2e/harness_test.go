//go:build e2e

// Package e2e runs the moat binary against a real Docker engine. Every test
// gets its own MOAT_HOME and workspace, and a cleanup that removes the
// engine objects of its runs by label and fails the test if a finished run
// left a container behind.
//
// Run with: go test -tags e2e -timeout 20m ./e2e/ (or make test-e2e).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/testutil"
)

// baseImage is the image moat builds run images on; scripts/testbed.sh
// makes it locally because no registry is reachable.
const baseImage = "debian:bookworm-slim"

// buildkitImage is the BuildKit sidecar image scripts/buildkit.sh makes
// (part of 'make testbed'): nothing is pulled. Every test's moat home names
// it in config.yaml, pinned by its ID (buildkitImageID, found by TestMain):
// moat takes only a pinned sidecar image from the user.
const buildkitImage = "moat-test/buildkit:v0.34.2"

var buildkitImageID string

// buildctlBin is the BuildKit client, copied out of the sidecar image by
// TestMain, for tests that mount it into runs.
var buildctlBin string

// defaultParallel is how many tests run at once unless -test.parallel is
// given: the tests mostly wait on containers, not on the CPU.
const defaultParallel = "8"

// Timeouts. A moat command may build an image (20–90 s alone, far longer
// when several builds share two cores: on a fresh clone, whose moat binary
// is new, every image is rebuilt at the start of the suite, the agent CLIs'
// among them, hundreds of MB each; one apt build was seen to take over six
// minutes then). The bounds are for a hung command, not a slow one.
// waitTimeout bounds waiting for a started run to reach a state.
const (
	cmdTimeout  = 12 * time.Minute
	waitTimeout = 3 * time.Minute
)

// moatBin is the moat binary built once by TestMain.
var moatBin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

// quietHandshakes drops net/http's "TLS handshake error" lines from the
// standard logger, which the tests' servers log to: clients that probe a
// port or give up (the bypass tests, on purpose) cause them, and dozens of
// them buried the one line that named a failure.
type quietHandshakes struct{ w io.Writer }

func (q quietHandshakes) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("http: TLS handshake error")) {
		return len(p), nil
	}
	return q.w.Write(p)
}

func testMain(m *testing.M) int {
	flag.Parse()
	log.SetOutput(quietHandshakes{os.Stderr})
	if !flagGiven("test.parallel") {
		flag.Set("test.parallel", defaultParallel)
	}
	if err := checkEngine(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n\nRun 'make testbed' to install and start the engine and make the base image.\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "moat-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Other users (the ownership test) must be able to run the binary.
	os.Chmod(dir, 0o755)
	if moatBin, err = buildMoat(dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building moat: %v\n", err)
		return 1
	}
	if buildctlBin, err = testutil.CopyFromImage(buildkitImage, "/usr/bin/buildctl", dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n\nRun 'make testbed' to make the BuildKit sidecar image.\n", err)
		return 1
	}
	if buildkitImageID, err = imageID(buildkitImage); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n\nRun 'make testbed' to make the BuildKit sidecar image.\n", err)
		return 1
	}
	return m.Run()
}

// imageID returns the ID of the image ref names in the engine.
func imageID(ref string) (string, error) {
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", ref).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("inspecting image %s: %v\n%s", ref, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// checkEngine fails (never skips) when the engine or the base image is
// missing: under the e2e tag they are requirements.
func checkEngine() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("the Docker engine does not answer ('docker info': %v)\n%s", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", baseImage).CombinedOutput(); err != nil {
		return fmt.Errorf("the base image %s is missing ('docker image inspect': %v)\n%s", baseImage, err, lastLine(out))
	}
	return nil
}

func buildMoat(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "moat")
	// moat with the test hooks (MOAT_TEST_*), which 'make build' leaves
	// out, and moat-sidecar beside it, where moat looks for it; static,
	// like 'make build': runs execute moat-sidecar in their containers.
	for _, b := range []struct{ out, pkg string }{{bin, "./cmd/moat"}, {bin + "-sidecar", "./cmd/moat-sidecar"}} {
		cmd := exec.Command("go", "build", "-tags", "moattest", "-o", b.out, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%v\n%s", err, out)
		}
	}
	return bin, nil
}

// repoRoot is the module root: go list's answer, else the parent directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		return dir, nil
	}
	return filepath.Abs("..")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// moatEnv runs the moat binary with one MOAT_HOME and tracks the runs made
// with it, for the cleanup.
type moatEnv struct {
	t      *testing.T
	home   string
	env    []string // extra KEY=VALUE
	prefix []string // command that wraps moat, e.g. setpriv to run as another user

	mu         sync.Mutex
	tracked    map[string]bool // run IDs the test knows of beyond the run directories
	workspaces []string
}

// newMoat returns an env with a fresh MOAT_HOME and registers its cleanup.
func newMoat(t *testing.T) *moatEnv {
	t.Helper()
	return newMoatAt(t, t.TempDir())
}

// newMoatAt is newMoat with a given MOAT_HOME.
func newMoatAt(t *testing.T, home string) *moatEnv {
	e := &moatEnv{t: t, home: home, tracked: map[string]bool{}}
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	// No background router unless a test asks for one (router_test.go):
	// each would take the same default address.
	if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte("buildkit_image: "+buildkitImageID+"\nrouter: {auto: false}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	return e
}

// seedPins records in e's home the images needImage made (builtImages)
// that it has not recorded yet, as moat records an image it built. A home
// moat uses as another user (prefix) is left alone: its records must stay
// that user's.
func (e *moatEnv) seedPins() {
	if len(e.prefix) > 0 {
		return
	}
	pins := state.Pins{Store: &state.Store{Root: e.home}}
	builtImages.Range(func(tag, id any) bool {
		if was, ok := pins.Pinned(tag.(string)); ok && was == id.(string) {
			return true
		}
		if err := pins.Pin(tag.(string), id.(string)); err != nil {
			e.t.Errorf("recording image %s in %s: %v", tag, e.home, err)
		}
		return true
	})
}

// track adds a run ID whose engine objects the cleanup must check and remove.
func (e *moatEnv) track(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tracked[id] = true
}

// result is how a moat command ended.
type result struct {
	args           []string
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("moat %s\nexit %d after %s\n--- stdout\n%s--- stderr\n%s",
		strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// command is moat with args, behind the env's prefix.
func (e *moatEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	return e.commandArgv(ctx, append(append(append([]string{}, e.prefix...), moatBin), args...))
}

// commandArgv is any command line with the env's environment.
func (e *moatEnv) commandArgv(ctx context.Context, argv []string) *exec.Cmd {
	e.seedPins()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "MOAT_HOME="+e.home, "NO_COLOR=1")
	cmd.Env = append(cmd.Env, e.env...)
	return cmd
}

// run runs moat to the end with empty stdin.
func (e *moatEnv) run(args ...string) result {
	e.t.Helper()
	return e.runInput("", args...)
}

// runInput runs moat to the end with stdin as its input.
func (e *moatEnv) runInput(stdin string, args ...string) result {
	e.t.Helper()
	return e.runArgv(stdin, append(append(append([]string{}, e.prefix...), moatBin), args...))
}

// runArgv runs a command line that starts moat, such as script(1) running
// it on a terminal, with the env's environment.
func (e *moatEnv) runArgv(stdin string, argv []string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := e.commandArgv(ctx, argv)
	args := argv
	if len(argv) > 0 && argv[0] == moatBin {
		args = argv[1:]
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	res := result{args: args, stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	res.code = exitCode(cmd, err)
	if ctx.Err() != nil {
		e.t.Fatalf("timed out after %s:\n%s", cmdTimeout, res)
	}
	return res
}

func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState != nil {
		return cmd.ProcessState.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// mustRun runs moat and fails the test unless it exits with want.
func (e *moatEnv) mustRun(want int, args ...string) result {
	e.t.Helper()
	res := e.run(args...)
	if res.code != want {
		e.t.Fatalf("got exit code %d, want %d:\n%s", res.code, want, res)
	}
	return res
}

// proc is a moat process running in the background.
type proc struct {
	t              *testing.T
	args           []string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error
}

// start starts moat in the background; the test's cleanup kills it if it
// is still running.
func (e *moatEnv) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{t: e.t, args: args, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = e.command(context.Background(), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("starting moat %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("sending %v to moat %s: %v", sig, strings.Join(p.args, " "), err)
	}
}

// wait waits for the process to end and fails the test after timeout.
func (p *proc) wait(timeout time.Duration) result {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("moat %s still running after %s\n--- stdout\n%s--- stderr\n%s",
			strings.Join(p.args, " "), timeout, p.stdout, p.stderr)
	}
	return result{args: p.args, stdout: p.stdout.String(), stderr: p.stderr.String(), code: exitCode(p.cmd, p.err)}
}

// killedBySignal reports whether the ended process died of a signal.
func (p *proc) killedBySignal() bool {
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runRecord is the part of a run's metadata.json (and of 'moat list
// --json') the tests read.
type runRecord struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	State       string   `json:"state"`
	ExitCode    *int     `json:"exit_code"`
	ContainerID string   `json:"container_id"`
	Image       string   `json:"image"`
	Keep        bool     `json:"keep"`
	Command     []string `json:"command"`
}

func (r runRecord) active() bool { return r.State == "created" || r.State == "running" }

func (r runRecord) exitCode() string {
	if r.ExitCode == nil {
		return "none"
	}
	return fmt.Sprint(*r.ExitCode)
}

// runsDir is where moat keeps run directories.
func (e *moatEnv) runsDir() string { return filepath.Join(e.home, "runs") }

// runDirs lists the run directories in MOAT_HOME.
func (e *moatEnv) runDirs() []string {
	entries, _ := os.ReadDir(e.runsDir())
	var out []string
	for _, ent := range entries {
		out = append(out, ent.Name())
	}
	return out
}

// records reads every run's metadata.json straight from MOAT_HOME, without
// asking moat (and so without reconciling with the engine).
func (e *moatEnv) records() map[string]runRecord {
	out := map[string]runRecord{}
	entries, _ := os.ReadDir(e.runsDir())
	for _, ent := range entries {
		data, err := os.ReadFile(filepath.Join(e.runsDir(), ent.Name(), "metadata.json"))
		if err != nil {
			continue
		}
		var r runRecord
		if json.Unmarshal(data, &r) == nil {
			out[ent.Name()] = r
		}
	}
	return out
}

// list runs 'moat list --json'.
func (e *moatEnv) list() []runRecord {
	e.t.Helper()
	res := e.mustRun(0, "list", "-a", "--json")
	var runs []runRecord
	if err := json.Unmarshal([]byte(res.stdout), &runs); err != nil {
		e.t.Fatalf("decoding 'moat list --json': %v\n%s", err, res)
	}
	return runs
}

// find returns the run named name as 'moat list --json' shows it.
func (e *moatEnv) find(name string) runRecord {
	e.t.Helper()
	runs := e.list()
	for _, r := range runs {
		if r.Name == name {
			return r
		}
	}
	e.t.Fatalf("no run named %q in 'moat list --json': %+v", name, runs)
	return runRecord{}
}

// waitState polls 'moat list --json' until the run named name has state.
func (e *moatEnv) waitState(name, state string) runRecord {
	e.t.Helper()
	var last runRecord
	seen := "no such run listed"
	// A run's first state comes after its image is built (or checked),
	// which a foreground run is allowed cmdTimeout for: at the start of the
	// e2e pass several homes build the same image at once.
	waitForDetail(e.t, cmdTimeout, fmt.Sprintf("run %s to be %s", name, state), func() bool {
		for _, r := range e.list() {
			if r.Name == name {
				last, seen = r, fmt.Sprintf("last listed: %+v", r)
				return r.State == state
			}
		}
		return false
	}, func() string { return seen })
	return last
}

// release lets a run whose command waits for /workspace/release go on
// (commands gated so, rather than sleeping, cannot finish before a slow
// poll on a loaded machine has seen them running).
func release(t *testing.T, ws string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ws, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// onlyRun returns the single run in MOAT_HOME.
func (e *moatEnv) onlyRun() runRecord {
	e.t.Helper()
	recs := e.records()
	if len(recs) != 1 {
		e.t.Fatalf("got %d runs in %s, want 1: %+v", len(recs), e.home, recs)
	}
	for _, r := range recs {
		return r
	}
	return runRecord{}
}

// waitFor polls cond until it holds and fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForDetail(t, timeout, what, cond, func() string { return "" })
}

// waitForDetail is waitFor whose failure says what detail returns (what
// was last seen).
func waitForDetail(t *testing.T, timeout time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; %s", timeout, what, detail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// workspace makes a workspace directory (mode 0755, so the agent's
// unprivileged user can read it) holding files, name -> content, and
// approves its agent.yaml as the user would with 'moat trust --yes'.
func (e *moatEnv) workspace(files map[string]string) string {
	e.t.Helper()
	dir := e.untrustedWorkspace(files)
	if _, ok := files["agent.yaml"]; ok {
		e.trust(dir)
	}
	return dir
}

// untrustedWorkspace is workspace without the approval: a repository
// cloned from someone else, say.
func (e *moatEnv) untrustedWorkspace(files map[string]string) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "ws")
	writeTree(e.t, dir, files)
	e.mu.Lock()
	e.workspaces = append(e.workspaces, dir)
	e.mu.Unlock()
	return dir
}

// trust approves what dir's agent.yaml asks for.
func (e *moatEnv) trust(dir string) {
	e.t.Helper()
	e.mustRun(0, "trust", "--yes", dir)
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// agentYAML is the smallest agent.yaml, with dependencies as a flow list.
// writeConfig replaces the moat home's config.yaml.
func (e *moatEnv) writeConfig(yaml string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.home, "config.yaml"), []byte(yaml), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func agentYAML(deps string) map[string]string {
	return map[string]string{"agent.yaml": "dependencies: [" + deps + "]\n"}
}

// uniqueName is a run or object name made of the test's name and a random
// suffix, in the characters run names allow.
func uniqueName(t *testing.T) string {
	name := strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))
	name = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(name, "-")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("%s-%06x", strings.Trim(name, "-"), rand.Uint32()&0xffffff)
}

// docker runs the docker CLI and returns its trimmed stdout.
func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// dockerIDs runs a docker listing command and returns its lines.
func dockerIDs(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := docker(t, args...)
	if err != nil {
		t.Errorf("%v", err)
		return nil
	}
	return strings.Fields(out)
}

// runContainers lists the containers, running or not, labelled with runID.
func runContainers(t *testing.T, runID string) []string {
	t.Helper()
	return dockerIDs(t, "ps", "-aq", "--filter", "label=moat.run-id="+runID)
}

// cleanup removes the engine objects of every run this env knows of, and
// fails the test if a run that had finished (and was not --keep) still had
// a container.
func (e *moatEnv) cleanup() {
	t := e.t
	recs := e.records()
	ids := e.runIDs(recs)
	for id := range ids {
		rec, known := recs[id]
		cs := runContainers(t, id)
		if len(cs) > 0 && (!known || !rec.active() && !rec.Keep) {
			t.Errorf("run %s (state %q, run directory present: %v) left container(s) %v behind", id, rec.State, known, cs)
		}
		removeRunObjects(t, id, cs)
	}
}

// runIDs is every run ID this env knows of: run directories, tracked IDs
// and the runs of containers labelled with one of its workspaces.
func (e *moatEnv) runIDs(recs map[string]runRecord) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := map[string]bool{}
	for id := range recs {
		ids[id] = true
	}
	for id := range e.tracked {
		ids[id] = true
	}
	for _, ws := range e.workspaces {
		out, err := docker(e.t, "ps", "-a", "--filter", "label=moat.workspace="+ws, "--format", `{{.Label "moat.run-id"}}`)
		if err != nil {
			e.t.Errorf("%v", err)
		}
		for _, id := range strings.Fields(out) {
			ids[id] = true
		}
	}
	return ids
}

// removeRunObjects removes the containers, networks and volumes labelled
// with runID and fails the test if any remain.
func removeRunObjects(t *testing.T, runID string, containers []string) {
	t.Helper()
	sel := "label=moat.run-id=" + runID
	if len(containers) > 0 {
		// A proxy sidecar removes itself when it exits: it may be on its
		// way out already.
		_, err := docker(t, append([]string{"rm", "-f", "-v"}, containers...)...)
		if err != nil && !strings.Contains(err.Error(), "already in progress") && !strings.Contains(err.Error(), "No such container") {
			t.Errorf("%v", err)
		}
		waitFor(t, 15*time.Second, "the removal of run "+runID+"'s containers", func() bool { return len(runContainers(t, runID)) == 0 })
	}
	if nets := dockerIDs(t, "network", "ls", "-q", "--filter", sel); len(nets) > 0 {
		if _, err := docker(t, append([]string{"network", "rm"}, nets...)...); err != nil {
			t.Errorf("%v", err)
		}
	}
	if vols := dockerIDs(t, "volume", "ls", "-q", "--filter", sel); len(vols) > 0 {
		if _, err := docker(t, append([]string{"volume", "rm", "-f"}, vols...)...); err != nil {
			t.Errorf("%v", err)
		}
	}
	left := append(runContainers(t, runID), dockerIDs(t, "network", "ls", "-q", "--filter", sel)...)
	left = append(left, dockerIDs(t, "volume", "ls", "-q", "--filter", sel)...)
	if len(left) > 0 {
		t.Errorf("engine objects of run %s remain after cleanup: %v", runID, left)
	}
}

// mustContain fails the test unless s contains every want.
func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
