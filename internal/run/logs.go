package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// LogLine is one line of a run's output as kept in logs.jsonl.
type LogLine struct {
	Time   time.Time `json:"t"`
	Stream string    `json:"s"` // "stdout" or "stderr"
	Text   string    `json:"m"`
}

// captureLogs copies the container's whole log, with the engine's
// timestamps, into the run's log file and returns what it wrote. It runs
// before a container is removed, so the log outlives it.
func (m *Manager) captureLogs(ctx context.Context, r *state.Run) ([]byte, error) {
	if r.ContainerID == "" {
		return nil, nil
	}
	var buf bytes.Buffer
	out, errOut := &lineRecorder{stream: "stdout", enc: json.NewEncoder(&buf)}, &lineRecorder{stream: "stderr"}
	errOut.enc = out.enc
	err := m.Engine.ContainerLogs(ctx, r.ContainerID, runtime.LogOptions{Timestamps: true}, out, errOut)
	out.flush()
	errOut.flush()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), state.WriteFileAtomic(m.Store.Path(r.ID, state.LogFile), buf.Bytes(), 0o600)
}

// lineRecorder turns "TIMESTAMP text" lines from the engine into LogLines.
type lineRecorder struct {
	stream  string
	enc     *json.Encoder
	partial []byte
}

func (w *lineRecorder) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.record(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
}

func (w *lineRecorder) flush() {
	if len(w.partial) > 0 {
		w.record(string(w.partial))
		w.partial = nil
	}
}

func (w *lineRecorder) record(line string) {
	ts, text, _ := strings.Cut(line, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t, text = time.Time{}, line
	}
	w.enc.Encode(LogLine{Time: t, Stream: w.stream, Text: strings.TrimSuffix(text, "\r")})
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
	if r.ContainerID != "" && (r.Status.Active() || r.Keep) {
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

func printSavedLogs(path string, opts LogsOptions) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // the run produced no output, or never started
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []LogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var l LogLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	for _, l := range lines {
		w := opts.Stdout
		if l.Stream == "stderr" {
			w = opts.Stderr
		}
		if opts.Timestamps {
			fmt.Fprintf(w, "%s %s\n", l.Time.Format(time.RFC3339Nano), l.Text)
		} else {
			fmt.Fprintln(w, l.Text)
		}
	}
	return nil
}
