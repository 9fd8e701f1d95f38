package audit

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readAll reads every entry of data, stopping at the first error.
func readAll(data []byte) ([]Entry, *Reader, error) {
	r := NewReader(bytes.NewReader(data))
	var entries []Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			return entries, r, nil
		}
		if err != nil {
			return entries, r, err
		}
		entries = append(entries, e)
	}
}

func TestReaderReturnsEveryEntry(t *testing.T) {
	t.Parallel()
	data := writeLog(t, testKey(t), 25) // 25 events, 2 checkpoints, 1 final
	entries, r, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 28 || r.Line() != 28 || r.TornBytes() != 0 {
		t.Fatalf("got %d entries, line %d, torn %d; want 28, 28, 0", len(entries), r.Line(), r.TornBytes())
	}
	for i, e := range entries {
		if e.Seq != uint64(i+1) || e.Time.IsZero() || e.Hash != ComputeHash(e) {
			t.Fatalf("entry %d read back wrong: %+v", i+1, e)
		}
	}
	if got := entries[0].Data["n"]; entries[0].Kind != "net.request" || got != "0" {
		t.Fatalf("first entry %+v, want net.request n=0", entries[0])
	}
}

func TestReaderStopsAtATornTail(t *testing.T) {
	t.Parallel()
	data := writeLog(t, testKey(t), 3)
	data = append(data, `{"seq":5,"time":"2026-`...)
	entries, r, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 || r.TornBytes() != 22 {
		t.Fatalf("got %d entries and %d torn bytes, want 4 and 22", len(entries), r.TornBytes())
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the torn tail Next returned %v, want io.EOF", err)
	}
}

func TestReaderNamesTheLineThatDoesNotParse(t *testing.T) {
	t.Parallel()
	lines := strings.SplitAfter(string(writeLog(t, testKey(t), 5)), "\n")
	tests := []struct {
		name, line, want string
	}{
		{name: "not JSON", line: "garbage\n", want: "line 3: not a valid entry"},
		{name: "bad time", line: `{"seq":3,"time":"yesterday","kind":"k","prev":"a","hash":"b"}` + "\n", want: `line 3: not a valid entry: bad time "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			damaged := append(append(append([]string(nil), lines[:2]...), tt.line), lines[3:]...)
			entries, _, err := readAll([]byte(strings.Join(damaged, "")))
			var le *LineError
			if !errors.As(err, &le) || le.Line != 3 || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got error %v, want a LineError starting %q", err, tt.want)
			}
			if len(entries) != 2 {
				t.Fatalf("got %d entries before the error, want 2", len(entries))
			}
		})
	}
}

func TestReaderReadsLongLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testRun, testKey(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 200*1024)
	if _, err := l.Append(KindNetRequest, map[string]string{NetPath: long}, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := NewReader(f).Next()
	if err != nil || e.Data[NetPath] != long {
		t.Fatalf("got %d-byte path, err %v; want the 200 KiB path", len(e.Data[NetPath]), err)
	}
}

func TestReaderOnAnEmptyLog(t *testing.T) {
	t.Parallel()
	entries, r, err := readAll(nil)
	if err != nil || len(entries) != 0 || r.TornBytes() != 0 {
		t.Fatalf("got %d entries, torn %d, err %v; want none", len(entries), r.TornBytes(), err)
	}
}
