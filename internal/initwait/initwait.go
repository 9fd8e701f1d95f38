// Package initwait owns what moat-init waits for inside a run's container:
// lines appearing in a log file (inotify) and a process ending (pidfd),
// without polling, and a local port accepting connections. It backs the
// hidden 'moat init-wait', which moat-init runs from the copy of moat's
// binary in a docker:dind run's image while the inner daemon starts and
// stops and the BuildKit sidecar comes up, where a shell loop would start
// grep, bash and sleep dozens of times a second on CPUs the daemons need.
package initwait

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Options says what to wait for.
type Options struct {
	File    string   // the log file to read, from its start
	Lines   []string // each must appear in File, in any order
	PID     int      // a process whose end ends the wait (0: none)
	Timeout time.Duration
}

// connectRetry is how often Connect tries again. The kernel tells no one
// that a socket began to listen, so this is the one wait that polls: a
// connection attempt on loopback, from one process, costs microseconds.
const connectRetry = 5 * time.Millisecond

// Connect returns nil once a TCP connection to addr succeeds (it is closed
// at once), and a *TimeoutError naming addr once timeout has passed.
func Connect(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
		if err == nil {
			c.Close()
			return nil
		}
		if time.Until(deadline) <= connectRetry {
			return &TimeoutError{After: timeout, Missing: []string{addr}}
		}
		time.Sleep(connectRetry)
	}
}

// ErrExited reports that the process ended before every line appeared.
var ErrExited = errors.New("the process exited")

// TimeoutError reports lines still missing when the wait timed out.
type TimeoutError struct {
	After   time.Duration
	Missing []string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("not seen within %s: %q", e.After, e.Missing)
}

// fallbackPoll is how often Wait looks again where the kernel gives no
// event: no inotify, or no pidfd (Linux before 5.3).
const fallbackPoll = 50 * time.Millisecond

// Wait returns nil once every line of o.Lines has appeared in o.File,
// ErrExited if the process o.PID ends first, and a *TimeoutError once
// o.Timeout has passed.
func Wait(o Options) error {
	f, err := os.Open(o.File)
	if err != nil {
		return err
	}
	defer f.Close()
	missing := append([]string(nil), o.Lines...)
	watch, werr := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if werr == nil {
		defer unix.Close(watch)
		if _, werr = unix.InotifyAddWatch(watch, o.File, unix.IN_MODIFY); werr != nil {
			unix.Close(watch)
		}
	}
	pidfd := -1
	if o.PID > 0 {
		if fd, err := unix.PidfdOpen(o.PID, 0); err == nil {
			pidfd = fd
			defer unix.Close(pidfd)
		}
	}
	deadline := time.Now().Add(o.Timeout)
	var scan lineScanner
	for {
		// Read what the file holds now; the watch, set before, reports
		// anything written after this read.
		if missing, err = scan.feed(f, missing); err != nil {
			return err
		}
		if len(missing) == 0 {
			return nil
		}
		if o.PID > 0 && !alive(o.PID, pidfd) {
			// What it wrote before it ended counts.
			if missing, err = scan.feed(f, missing); err != nil || len(missing) == 0 {
				return err
			}
			return ErrExited
		}
		left := time.Until(deadline)
		if left <= 0 {
			return &TimeoutError{After: o.Timeout, Missing: missing}
		}
		var fds []unix.PollFd
		if werr == nil {
			fds = append(fds, unix.PollFd{Fd: int32(watch), Events: unix.POLLIN})
		}
		if pidfd >= 0 {
			fds = append(fds, unix.PollFd{Fd: int32(pidfd), Events: unix.POLLIN})
		}
		if werr != nil || (o.PID > 0 && pidfd < 0) {
			left = min(left, fallbackPoll)
		}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if werr == nil {
			drain(watch)
		}
	}
}

// alive reports whether pid still runs; an exited process whose parent
// has not reaped it yet counts as ended.
func alive(pid, pidfd int) bool {
	if pidfd >= 0 {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err != nil || n == 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

// drain empties the inotify queue: its events only say "look again".
func drain(fd int) {
	buf := make([]byte, 4096)
	for {
		if n, err := unix.Read(fd, buf); n <= 0 || err != nil {
			return
		}
	}
}

// lineScanner finds lines in a file read piece by piece; a line cut by a
// read is completed by the next.
type lineScanner struct{ partial []byte }

// feed reads what r holds now and returns the lines of missing still not
// seen.
func (s *lineScanner) feed(r io.Reader, missing []string) ([]string, error) {
	buf := make([]byte, 32*1024)
	for len(missing) > 0 {
		n, err := r.Read(buf)
		if n > 0 {
			data := append(s.partial, buf[:n]...)
			end := bytes.LastIndexByte(data, '\n') + 1
			missing = without(missing, data[:end])
			s.partial = append(s.partial[:0:0], data[end:]...)
			if len(s.partial) > maxLine {
				s.partial = s.partial[len(s.partial)-maxLine:]
			}
		}
		if err == io.EOF {
			return missing, nil
		}
		if err != nil {
			return missing, err
		}
	}
	return missing, nil
}

// maxLine bounds the unfinished line kept between reads.
const maxLine = 64 * 1024

// without returns the patterns of missing that complete does not hold.
func without(missing []string, complete []byte) []string {
	out := missing[:0]
	for _, m := range missing {
		if !bytes.Contains(complete, []byte(m)) {
			out = append(out, m)
		}
	}
	return out
}
