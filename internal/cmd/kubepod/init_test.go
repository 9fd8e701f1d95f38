package kubepod

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func signalNamed(name string) syscall.Signal {
	return map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT}[name]
}

func owner(fi os.FileInfo) (uid, gid uint32) {
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// initRun is a started 'kube init', its stdout read line by line.
type initRun struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
	ended  chan struct{}
	err    error
}

func startInit(t *testing.T, args ...string) *initRun {
	t.Helper()
	return startInitCmd(t, kubeProcess(t, append([]string{"init"}, args...)...))
}

func startInitCmd(t *testing.T, c *exec.Cmd) *initRun {
	t.Helper()
	r := &initRun{cmd: c, lines: make(chan string, 100), ended: make(chan struct{})}
	r.cmd.Stderr = &r.stderr
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.err = r.cmd.Wait()
		close(r.ended)
	}()
	t.Cleanup(func() {
		// SIGTERM first, which init forwards: a test that failed must not
		// leave its command holding stdout open.
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.ended:
		case <-time.After(5 * time.Second):
			r.cmd.Process.Kill()
		}
	})
	return r
}

// line returns the next line of output, failing the test after a while.
func (r *initRun) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			<-r.ended
			t.Fatalf("init ended (%v) before the line; stderr:\n%s", r.err, r.stderr.String())
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no line from init in 30s")
	}
	return ""
}

// exit waits for init's end and returns its exit code.
func (r *initRun) exit(t *testing.T) int {
	t.Helper()
	for range r.lines {
	}
	select {
	case <-r.ended:
	case <-time.After(30 * time.Second):
		t.Fatal("init did not end in 30s")
	}
	var ee *exec.ExitError
	if r.err != nil && !errors.As(r.err, &ee) {
		t.Fatal(r.err)
	}
	return r.cmd.ProcessState.ExitCode()
}

func TestInitExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		signal syscall.Signal // sent to init once the command says "ready"
		want   int
	}{
		{"the command's own code", "echo ready; exit 3", 0, 3},
		{"SIGTERM is forwarded to a command that traps it", `trap 'kill $p; exit 7' TERM; sleep 100 & p=$!; echo ready; wait`, syscall.SIGTERM, 7},
		{"SIGINT is forwarded", `trap 'kill $p; exit 8' INT; sleep 100 & p=$!; echo ready; wait`, syscall.SIGINT, 8},
		{"SIGUSR1 is forwarded", `trap 'kill $p; exit 9' USR1; sleep 100 & p=$!; echo ready; wait`, syscall.SIGUSR1, 9},
		{"SIGWINCH is forwarded", `trap 'kill $p; exit 10' WINCH; sleep 100 & p=$!; echo ready; wait`, syscall.SIGWINCH, 10},
		{"a command killed by SIGKILL is 137", `echo ready; kill -KILL $$`, 0, 137},
		{"a command killed by a forwarded SIGTERM is 143", `echo ready; exec sleep 100`, syscall.SIGTERM, 143},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startInit(t, "--", "sh", "-c", tc.script)
			if l := r.line(t); l != "ready" {
				t.Fatalf("got %q, want ready", l)
			}
			if tc.signal != 0 {
				r.cmd.Process.Signal(tc.signal)
			}
			if got := r.exit(t); got != tc.want {
				t.Fatalf("init exited %d, want %d; stderr:\n%s", got, tc.want, r.stderr.String())
			}
		})
	}
}

func TestInitCannotStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data")
	os.WriteFile(notExec, []byte("x"), 0o644)
	tests := []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"a command not found", []string{"--", "/nonexistent/cmd"}, 127, "moat kube init: fork/exec /nonexistent/cmd: no such file or directory"},
		{"a file not executable", []string{"--", notExec}, 126, "permission denied"},
		{"a --stdin file missing", []string{"--stdin", filepath.Join(dir, "none"), "--", "true"}, 125, "moat kube init: opening --stdin: open "},
		{"no go-ahead", []string{"--wait-go", filepath.Join(dir, "go"), "--wait-timeout", "100ms", "--", "true"}, 125, "go did not appear within 100ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startInit(t, tc.args...)
			if got := r.exit(t); got != tc.want || !strings.Contains(r.stderr.String(), tc.msg) {
				t.Fatalf("init exited %d, stderr:\n%s\nwant %d and %q", got, r.stderr.String(), tc.want, tc.msg)
			}
		})
	}
}

func TestInitStdinFile(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "config")
	os.WriteFile(f, []byte("line one\nline two\n"), 0o600)
	r := startInit(t, "--stdin", f, "--", "cat")
	got := []string{r.line(t), r.line(t)}
	if want := []string{"line one", "line two"}; !slices.Equal(got, want) {
		t.Fatalf("the command read %q, want %q", got, want)
	}
	if code := r.exit(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestInitKeepsTheEnvironment: the command's environment is init's own,
// nothing added or removed.
func TestInitKeepsTheEnvironment(t *testing.T) {
	t.Parallel()
	c := kubeProcess(t, "init", "--", "env", "-0")
	c.Env = append(c.Env, "ODD=a b\nc")
	r := startInitCmd(t, c)
	var out []string
	for l := range r.lines {
		out = append(out, l)
	}
	r.exit(t)
	got := strings.Split(strings.TrimSuffix(strings.Join(out, "\n"), "\x00"), "\x00")
	want := slices.Clone(r.cmd.Env)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the command's environment differs from init's:\ngot  %q\nwant %q", got, want)
	}
}

func TestInitWaitsForGo(t *testing.T) {
	t.Parallel()
	goFile := filepath.Join(t.TempDir(), "ctl", "go")
	r := startInit(t, "--wait-go", goFile, "--", "echo", "started")
	select {
	case l := <-r.lines:
		t.Fatalf("the command ran before the go-ahead: %q", l)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := kube(t, nil, "done", goFile); err != nil {
		t.Fatal(err)
	}
	if l := r.line(t); l != "started" {
		t.Fatalf("got %q", l)
	}
	if code := r.exit(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestInitReapsOrphans: a process whose parent ends becomes init's child
// (init is PID 1 of a PID namespace, or a subreaper); once it ends, init
// reaps it rather than leaving a zombie.
func TestInitReapsOrphans(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pidNS bool
	}{{"as a subreaper", false}, {"as PID 1 of a PID namespace", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.pidNS && os.Geteuid() != 0 {
				t.Skip("a PID namespace takes root")
			}
			// The inner shell starts the orphan-to-be and ends at once.
			c := kubeProcess(t, "init", "--", "sh", "-c", `sh -c 'sleep 1 & echo ready'; exec tail -f /dev/null`)
			if tc.pidNS {
				c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
			}
			r := startInitCmd(t, c)
			if l := r.line(t); l != "ready" {
				t.Fatalf("got %q", l)
			}
			init := r.cmd.Process.Pid
			var adopted bool
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				// Not reaped, the orphan would stay a zombie child of init.
				adoptedNow := slices.ContainsFunc(children(t, init), func(k proc) bool { return k.comm == "sleep" })
				adopted = adopted || adoptedNow
				if adopted && !adoptedNow { // adopted, ended and reaped
					r.cmd.Process.Signal(syscall.SIGTERM)
					if code := r.exit(t); code != 128+int(syscall.SIGTERM) {
						t.Errorf("init exited %d after SIGTERM, want 143", code)
					}
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Fatalf("the orphan was adopted: %v; init's children now: %v", adopted, children(t, init))
		})
	}
}

type proc struct{ comm, state string }

func (p proc) String() string { return fmt.Sprintf("%s(%s)", p.comm, p.state) }

// children lists the processes whose parent is pid, from /proc.
func children(t *testing.T, pid int) []proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []proc
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 {
			continue
		}
		fields := strings.Fields(s[close+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, proc{comm: s[open+1 : close], state: fields[0]})
		}
	}
	return out
}

// TestStop: 'kube stop' in the main container (here, a PID and mount
// namespace with its own /proc, whose PID 1 is 'kube init') ends a
// command that traps SIGTERM by the signal, and one that ignores it by
// SIGKILL after the grace period.
func TestStop(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a PID namespace takes root")
	}
	tests := []struct {
		name, trap string
		want       int
	}{
		{"a command that ends on SIGTERM", `trap 'exit 7' TERM`, 7},
		{"a command that ignores SIGTERM", `trap '' TERM`, 137},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The command mounts the namespace's own /proc (privately),
			// then runs 'kube stop' as moat would over exec.
			script := `mount --make-rprivate / && mount -t proc proc /proc || exit 99; ` + tc.trap + `; ` +
				`echo ready; "$0" kube stop --grace 3s & while :; do sleep 0.1; done`
			c := kubeProcess(t, "init", "--", "sh", "-c", script, os.Args[0])
			c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
			r := startInitCmd(t, c)
			if l := r.line(t); l != "ready" {
				t.Fatalf("got %q", l)
			}
			if code := r.exit(t); code != tc.want {
				t.Fatalf("init exited %d, want %d; stderr:\n%s", code, tc.want, r.stderr.String())
			}
		})
	}
	if _, err := kube(t, nil, "stop", "--grace", "0s"); err == nil || !strings.Contains(err.Error(), "PID 1 is not 'kube init'") {
		t.Fatalf("kube stop outside a pod: got %v, want a refusal", err)
	}
}
