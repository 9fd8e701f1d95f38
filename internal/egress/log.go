package egress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/audit"
)

// MaxLogBytes caps the proxy's own log (its errors, one line each), which
// the agent can make grow by making requests that fail: past it, messages
// are dropped and one line says so.
const MaxLogBytes = 16 << 20

// capNotice ends a log that reached its cap; it is how a reopened log
// knows it is full.
const capNotice = "moat proxy: this log reached its cap of %s; later messages are dropped"

// LogFile is the proxy's own log: timestamped lines appended to a file
// until it reaches its cap. It is safe for concurrent use.
type LogFile struct {
	mu    sync.Mutex
	f     *os.File
	size  int64
	limit int64
	full  bool
	now   func() time.Time
}

// OpenLog opens (creating if needed) the log at path, capped at limit
// bytes. now stamps the lines; nil means time.Now.
func OpenLog(path string, limit int64, now func() time.Time) (*LogFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the proxy log: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	l := &LogFile{f: f, limit: limit, now: now}
	if err := l.readEnd(); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening the proxy log: %w", err)
	}
	return l, nil
}

// readEnd learns the file's size and whether it already ends with the
// notice.
func (l *LogFile) readEnd() error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	l.size = fi.Size()
	notice := []byte(l.notice() + "\n")
	if l.size < int64(len(notice)) {
		return nil
	}
	end := make([]byte, len(notice))
	if _, err := l.f.ReadAt(end, l.size-int64(len(end))); err != nil && err != io.EOF {
		return err
	}
	l.full = bytes.Equal(end, notice)
	return nil
}

func (l *LogFile) notice() string {
	return fmt.Sprintf(capNotice, audit.FormatBytes(l.limit))
}

// Printf appends one line. A line that would leave no room for the notice
// is dropped, and the notice written instead, once.
func (l *LogFile) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full {
		return
	}
	stamp := l.now().UTC().Format(time.RFC3339Nano) + " "
	line := stamp + fmt.Sprintf(format, args...) + "\n"
	notice := stamp + l.notice() + "\n"
	if l.size+int64(len(line)+len(notice)) > l.limit {
		line, l.full = notice, true
		if l.size+int64(len(line)) > l.limit {
			return
		}
	}
	n, _ := l.f.WriteString(line)
	l.size += int64(n)
}

// Close closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
