package initwait

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func logFile(t *testing.T, content string) (string, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "daemon.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return path, f
}

func waitAsync(o Options) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Wait(o) }()
	return done
}

func TestWaitSeesLinesWrittenLaterInPieces(t *testing.T) {
	path, f := logFile(t, "starting\nAPI listen on /run/docker.sock\n")
	done := waitAsync(Options{File: path, Lines: []string{"API listen on", `msg="Daemon has completed initialization"`}, Timeout: time.Minute})
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v with a line still missing", err)
	case <-time.After(100 * time.Millisecond):
	}
	// One line cut across two writes: neither half alone matches.
	f.WriteString(`level=info msg="Daemon has completed`)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v on half a line", err)
	case <-time.After(100 * time.Millisecond):
	}
	f.WriteString(" initialization\"\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not see the line completed by a later write")
	}
}

func TestWaitReturnsAtOnceWhenTheLinesAreThere(t *testing.T) {
	path, _ := logFile(t, "b\na\n")
	if err := Wait(Options{File: path, Lines: []string{"a", "b"}, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
}

func TestWaitEndsWhenTheProcessExits(t *testing.T) {
	path, _ := logFile(t, "starting\n")
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Not reaped until Wait has returned: a zombie has ended.
	err := Wait(Options{File: path, Lines: []string{"ready"}, PID: cmd.Process.Pid, Timeout: time.Minute})
	cmd.Wait()
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Wait returned %v, want ErrExited", err)
	}
}

func TestWaitTimesOutNamingWhatIsMissing(t *testing.T) {
	path, _ := logFile(t, "API listen on\n")
	err := Wait(Options{File: path, Lines: []string{"API listen on", "complete"}, Timeout: 150 * time.Millisecond})
	var te *TimeoutError
	if !errors.As(err, &te) || !slices.Equal(te.Missing, []string{"complete"}) {
		t.Fatalf("Wait returned %v, want a timeout missing only \"complete\"", err)
	}
}

func TestWaitNeedsTheFile(t *testing.T) {
	if err := Wait(Options{File: filepath.Join(t.TempDir(), "absent"), Lines: []string{"x"}, Timeout: time.Second}); err == nil {
		t.Fatal("Wait on a missing file returned nil")
	}
}

func TestConnectWaitsForAListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	done := make(chan error, 1)
	go func() { done <- Connect(addr, time.Minute) }()
	select {
	case err := <-done:
		t.Fatalf("Connect returned %v before anything listened", err)
	case <-time.After(100 * time.Millisecond):
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Connect did not see the listener")
	}
}

func TestConnectTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var te *TimeoutError
	if err := Connect(addr, 100*time.Millisecond); !errors.As(err, &te) || te.Missing[0] != addr {
		t.Fatalf("Connect returned %v, want a timeout naming %s", err, addr)
	}
}

// TestWaitBoundsAnUnfinishedLine feeds what a hostile writer of the log
// could: megabytes without a new line. Wait keeps at most maxLine of it,
// and still finds a line that ends after it.
func TestWaitBoundsAnUnfinishedLine(t *testing.T) {
	path, f := logFile(t, "")
	chunk := strings.Repeat("x", 64*1024)
	for range 32 { // 2 MiB, no new line
		f.WriteString(chunk)
	}
	f.WriteString(" ready\n")
	var s lineScanner
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	missing, err := s.feed(r, []string{"ready"})
	if err != nil || len(missing) != 0 {
		t.Fatalf("feed: missing %v, %v; want the line found", missing, err)
	}
	f.WriteString(strings.Repeat("y", 3*maxLine)) // unfinished again
	if _, err := s.feed(r, []string{"never"}); err != nil {
		t.Fatal(err)
	}
	if len(s.partial) > maxLine {
		t.Fatalf("kept %d bytes of an unfinished line, want at most %d", len(s.partial), maxLine)
	}
}
