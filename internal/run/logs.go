package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// LogLine is one record of logs.jsonl: a line of a run's output, or a piece
// of a line longer than maxLogText.
type LogLine struct {
	Time   time.Time `json:"t"`
	Stream string    `json:"s"` // "stdout" or "stderr"
	Text   string    `json:"m"`
	// Partial marks a piece of a long line: the line goes on in the
	// stream's next record. It is the last field, so a record that ends in
	// partialSuffix is a piece (see tailStart).
	Partial bool `json:"p,omitempty"`
}

// maxLogText is the most text one record holds: a line of any length is
// saved, and read back, a piece at a time.
const maxLogText = 32 << 10

// partialSuffix ends the JSON of a record whose Partial is set.
const partialSuffix = `"p":true}`

// captureLogs streams the container's whole log, with the engine's
// timestamps, into the run's log file and returns its digest. It runs
// before a container is removed, so the log outlives it.
func (m *Manager) captureLogs(ctx context.Context, r *state.Run) (*logDigest, error) {
	d := newLogDigest()
	if r.ContainerID == "" {
		return d, nil
	}
	path := m.Store.Path(r.ID, state.LogFile)
	f, err := os.CreateTemp(filepath.Dir(path), "."+state.LogFile+".tmp*")
	if err != nil {
		return d, err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	err = f.Chmod(0o600)
	if err == nil {
		err = m.writeLogs(ctx, r, io.MultiWriter(f, d))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
		fsutil.SyncDir(filepath.Dir(path))
	}
	return d, err
}

// writeLogs writes the container's log to w as LogLine records.
func (m *Manager) writeLogs(ctx context.Context, r *state.Run, w io.Writer) error {
	bw := bufio.NewWriter(w)
	rec := newLogRecorder(bw)
	out, errOut := rec.stream("stdout"), rec.stream("stderr")
	err := m.Engine.ContainerLogs(ctx, r.ContainerID, runtime.LogOptions{Timestamps: true}, out, errOut)
	out.flush()
	errOut.flush()
	if err == nil {
		err = rec.err
	}
	if err == nil {
		err = bw.Flush()
	}
	return err
}

// logRecorder encodes the records of a run's streams to one writer.
type logRecorder struct {
	enc *json.Encoder
	err error // the first write error
}

func newLogRecorder(w io.Writer) *logRecorder { return &logRecorder{enc: json.NewEncoder(w)} }

func (r *logRecorder) stream(name string) *lineRecorder { return &lineRecorder{rec: r, stream: name} }

func (r *logRecorder) encode(l LogLine) {
	if err := r.enc.Encode(l); err != nil && r.err == nil {
		r.err = err
	}
}

// maxTimestamp bounds the engine's "TIMESTAMP " prefix of a line.
const maxTimestamp = 64

// lineRecorder turns "TIMESTAMP text" lines from the engine into records,
// holding at most one record's text: a longer line is saved in pieces.
type lineRecorder struct {
	rec     *logRecorder
	stream  string
	partial []byte
	time    time.Time // of the line being continued
	cont    bool      // the line's first piece is saved
}

func (w *lineRecorder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		end := bytes.IndexByte(p, '\n')
		if end < 0 {
			end = len(p)
		}
		take := min(end, maxLogText+maxTimestamp-len(w.partial))
		w.partial = append(w.partial, p[:take]...)
		p = p[take:]
		switch {
		case take == end && len(p) > 0: // a newline
			p = p[1:]
			w.record(false)
		case len(w.partial) >= maxLogText+maxTimestamp:
			w.record(true)
		}
	}
	return n, nil
}

// flush saves the end of a stream that does not end in a newline.
func (w *lineRecorder) flush() {
	if len(w.partial) > 0 || w.cont {
		w.record(false)
	}
}

// record saves what is held: a whole line's (last) piece, or, if piece,
// the text up to the last whole UTF-8 character.
func (w *lineRecorder) record(piece bool) {
	text := w.partial
	if !w.cont {
		w.time, text = splitTimestamp(text)
	}
	keep := 0
	if piece {
		keep = len(text) - utf8Cut(text)
		w.rec.encode(LogLine{Time: w.time, Stream: w.stream, Text: string(text[:len(text)-keep]), Partial: true})
	} else {
		w.rec.encode(LogLine{Time: w.time, Stream: w.stream, Text: strings.TrimSuffix(string(text), "\r")})
	}
	w.partial = append(w.partial[:0], text[len(text)-keep:]...)
	w.cont = piece
}

// splitTimestamp splits "TIMESTAMP text"; a line without one has no time.
func splitTimestamp(line []byte) (time.Time, []byte) {
	i := bytes.IndexByte(line[:min(len(line), maxTimestamp)], ' ')
	if i < 0 {
		return time.Time{}, line
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:i]))
	if err != nil {
		return time.Time{}, line
	}
	return t, line[i+1:]
}

// utf8Cut returns where to cut b so that no UTF-8 character is split: at
// the start of an unfinished last character, else at the end.
func utf8Cut(b []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		if utf8.RuneStart(b[len(b)-k]) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return len(b) - k
			}
			break
		}
	}
	return len(b)
}

// LogsOptions selects what Logs prints.
type LogsOptions struct {
	Follow     bool
	Tail       int // last N lines; 0 or less means all
	Timestamps bool
	Stdout     io.Writer
	Stderr     io.Writer
}

// Logs prints a run's output: from the engine while its container exists
// (following it if asked), else from the saved log.
func (m *Manager) Logs(ctx context.Context, r *state.Run, opts LogsOptions) error {
	if r.ContainerID != "" && (r.Status.Active() || r.Keep) && m.ownContainer(ctx, r, r.ContainerID, labels.RoleAgent) == nil {
		tail := "all"
		if opts.Tail > 0 {
			tail = strconv.Itoa(opts.Tail)
		}
		err := m.Engine.ContainerLogs(ctx, r.ContainerID, runtime.LogOptions{
			Follow: opts.Follow, Timestamps: opts.Timestamps, Tail: tail,
		}, opts.Stdout, opts.Stderr)
		if !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
	}
	return printSavedLogs(m.Store.Path(r.ID, state.LogFile), opts)
}
