package run

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/state"
)

// recordLogs writes what the engine would return for a container (lines
// of "TIMESTAMP text") into a saved log, as captureLogs does.
func recordLogs(t *testing.T, path string, engineOutput io.Reader) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := newLogRecorder(f)
	out, errOut := rec.stream("stdout"), rec.stream("stderr")
	if _, err := io.Copy(out, engineOutput); err != nil {
		t.Fatal(err)
	}
	out.flush()
	errOut.flush()
	if rec.err != nil {
		t.Fatal(rec.err)
	}
}

func TestSavedLogsRoundTrip(t *testing.T) {
	long := strings.Repeat("é0123456789", 20000) // 240 kB, several records, a rune across a record's end
	engine := "2026-11-28T10:00:00Z first\n" +
		"2026-11-28T10:00:01Z " + long + "\n" +
		"2026-11-28T10:00:02Z third\r\n" +
		"2026-11-28T10:00:03Z no newline at the end"
	tests := []struct {
		name string
		opts LogsOptions
		want string
	}{
		{name: "all", want: "first\n" + long + "\nthird\nno newline at the end\n"},
		{name: "tail 1", opts: LogsOptions{Tail: 1}, want: "no newline at the end\n"},
		{name: "tail 3 starts at the long line", opts: LogsOptions{Tail: 3}, want: long + "\nthird\nno newline at the end\n"},
		{name: "tail larger than the log", opts: LogsOptions{Tail: 10}, want: "first\n" + long + "\nthird\nno newline at the end\n"},
		{name: "timestamps once per line", opts: LogsOptions{Tail: 3, Timestamps: true},
			want: "2026-11-28T10:00:01Z " + long + "\n2026-11-28T10:00:02Z third\n2026-11-28T10:00:03Z no newline at the end\n"},
	}
	path := filepath.Join(t.TempDir(), state.LogFile)
	recordLogs(t, path, strings.NewReader(engine))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.opts.Stdout, tt.opts.Stderr = &out, io.Discard
			if err := printSavedLogs(path, tt.opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("got %d bytes %.80q..., want %d bytes %.80q...", out.Len(), out.String(), len(tt.want), tt.want)
			}
		})
	}
}

// repeatReader yields n bytes of c, then a newline.
type repeatReader struct {
	c byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n < 0 {
		return 0, io.EOF
	}
	i := 0
	for ; i < len(p) && r.n > 0; i++ {
		p[i] = r.c
		r.n--
	}
	if i < len(p) && r.n == 0 {
		p[i] = '\n'
		i++
		r.n = -1
	}
	return i, nil
}

// countingWriter counts bytes and newlines and keeps nothing.
type countingWriter struct{ n, lines int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.lines += int64(bytes.Count(p, []byte("\n")))
	return len(p), nil
}

// TestSavedLogsOneHugeLine records and prints one 100 MiB line without a
// newline in it: neither step fails, and neither holds the line (or the
// log) in memory.
func TestSavedLogsOneHugeLine(t *testing.T) {
	const size = 100 << 20
	path := filepath.Join(t.TempDir(), state.LogFile)
	engine := io.MultiReader(strings.NewReader("2026-11-28T10:00:00Z "), &repeatReader{c: 'x', n: size})
	recordAlloc := allocated(t, func() { recordLogs(t, path, engine) })
	for _, tail := range []int{0, 1} {
		var out countingWriter
		alloc := allocated(t, func() {
			if err := printSavedLogs(path, LogsOptions{Tail: tail, Stdout: &out, Stderr: io.Discard}); err != nil {
				t.Fatal(err)
			}
		})
		if out.n != size+1 || out.lines != 1 {
			t.Fatalf("tail %d: printed %d bytes in %d lines, want %d bytes in 1 line", tail, out.n, out.lines, size+1)
		}
		if alloc > size/10 {
			t.Fatalf("tail %d: printing a %d-byte line grew the heap by %d bytes; it must stream", tail, size, alloc)
		}
	}
	if recordAlloc > size/10 {
		t.Fatalf("recording a %d-byte line grew the heap by %d bytes; it must stream", size, recordAlloc)
	}
}

// TestSavedLogsTailReadsTheEnd checks that -n N reads the end of a long log,
// not all of it: the bytes allocated stay far below the log's size.
func TestSavedLogsTailReadsTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.LogFile)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	line := LogLine{Stream: "stdout", Text: strings.Repeat("y", 100)}
	for range 200000 { // about 25 MB of records
		enc.Encode(line)
	}
	enc.Encode(LogLine{Stream: "stdout", Text: "last"})
	f.Close()
	fi, _ := os.Stat(path)
	var out bytes.Buffer
	alloc := allocated(t, func() {
		if err := printSavedLogs(path, LogsOptions{Tail: 2, Stdout: &out, Stderr: io.Discard}); err != nil {
			t.Fatal(err)
		}
	})
	if want := line.Text + "\nlast\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	if alloc > fi.Size()/20 {
		t.Fatalf("tail of a %d-byte log grew the heap by %d bytes; it must read from the end", fi.Size(), alloc)
	}
}

// allocated returns how much the heap grew while f ran, with the garbage
// collector running often: about the most f held at once. Tests that call
// it do not run in parallel, so that nothing else grows the heap.
func allocated(t *testing.T, f func()) int64 {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.HeapSys) - int64(before.HeapSys)
}
