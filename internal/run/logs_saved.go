package run

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/plural"
)

// maxRecord bounds one record read back. Records this moat writes hold at
// most maxLogText of text; an older moat wrote a whole line per record.
const maxRecord = 16 << 20

// printSavedLogs prints a saved log a record at a time; with a tail it
// starts at the last lines' first record, found from the end of the file.
func printSavedLogs(path string, opts LogsOptions) error {
	f, err := fsutil.OpenBeneath(filepath.Dir(path), filepath.Base(path), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil // the run produced no output, or never started
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if opts.Tail > 0 {
		start, err := tailStart(f, opts.Tail)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
	skipped, err := printRecords(bufio.NewReaderSize(f, 64<<10), opts)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if skipped > 0 {
		return fmt.Errorf("reading %s: left out %s longer than %d MiB, saved by an older moat", path, plural.Count(skipped, "line"), maxRecord>>20)
	}
	return nil
}

// printRecords prints each record of r: its text, then a newline unless
// the line goes on in a next record, and with Timestamps the line's time
// before its first piece. It returns how many records were too long.
func printRecords(r *bufio.Reader, opts LogsOptions) (skipped int, err error) {
	midLine := map[string]bool{}
	var buf []byte
	for {
		var tooLong bool
		buf, tooLong, err = readRecord(r, buf[:0])
		if tooLong {
			skipped++
		}
		var l LogLine
		if len(buf) > 0 && !tooLong && json.Unmarshal(buf, &l) == nil {
			if werr := printRecord(l, opts, midLine); werr != nil {
				return skipped, werr
			}
		}
		if err == io.EOF {
			return skipped, nil
		}
		if err != nil {
			return skipped, err
		}
	}
}

func printRecord(l LogLine, opts LogsOptions, midLine map[string]bool) error {
	w := opts.Stdout
	if l.Stream == "stderr" {
		w = opts.Stderr
	}
	if opts.Timestamps && !midLine[l.Stream] {
		if _, err := io.WriteString(w, l.Time.Format(time.RFC3339Nano)+" "); err != nil {
			return err
		}
	}
	midLine[l.Stream] = l.Partial
	if !l.Partial {
		l.Text += "\n"
	}
	_, err := io.WriteString(w, l.Text)
	return err
}

// readRecord appends the next line of r to buf, without its newline; a
// line longer than maxRecord is read to its end and dropped (tooLong).
func readRecord(r *bufio.Reader, buf []byte) (_ []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong && len(buf)+len(chunk) > maxRecord {
			tooLong, buf = true, buf[:0]
		}
		if !tooLong {
			buf = append(buf, chunk...)
		}
		if err != bufio.ErrBufferFull {
			return bytes.TrimSuffix(buf, []byte("\n")), tooLong, err
		}
	}
}

// tailBlock is how much of the file tailStart reads at a time.
const tailBlock = 64 << 10

// tailStart returns the offset of the first record of the last n lines,
// reading the file backwards a block at a time. A line is a record that is
// not a piece (see LogLine.Partial), with the pieces before it.
func tailStart(f *os.File, n int) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, tailBlock)
	lines := 0
	for hi := fi.Size(); hi > 0; {
		lo := max(0, hi-tailBlock)
		block := buf[:hi-lo]
		if _, err := f.ReadAt(block, lo); err != nil {
			return 0, err
		}
		for i := bytes.LastIndexByte(block, '\n'); i >= 0; i = bytes.LastIndexByte(block[:i], '\n') {
			piece, err := endsPiece(f, block, lo, i)
			if err != nil {
				return 0, err
			}
			if !piece {
				if lines++; lines > n {
					return lo + int64(i) + 1, nil
				}
			}
		}
		hi = lo
	}
	return 0, nil
}

// endsPiece reports whether the record that ends at block[i] (the block
// starts at offset lo of f) is a piece of a longer line.
func endsPiece(f *os.File, block []byte, lo int64, i int) (bool, error) {
	k := len(partialSuffix)
	if i >= k {
		return string(block[i-k:i]) == partialSuffix, nil
	}
	end := lo + int64(i)
	if end < int64(k) {
		return false, nil
	}
	var sfx [len(partialSuffix)]byte
	if _, err := f.ReadAt(sfx[:], end-int64(k)); err != nil {
		return false, err
	}
	return string(sfx[:]) == partialSuffix, nil
}
