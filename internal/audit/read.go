package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// Reader reads a log's entries in order, one at a time, for tools that
// want the recorded events (such as 'moat trace'). It does not check the
// chain or the signatures: that is Verify's job.
type Reader struct {
	br   *bufio.Reader
	line int
	torn int
}

// NewReader reads the log in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64*1024)}
}

// LineError is a line of the log that could not be read as an entry.
type LineError struct {
	Line int // 1-based line in the log file
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Next returns the next entry, or io.EOF after the last complete one. A
// last line without its newline (a writer that is, or was when it was
// killed, in the middle of an entry) is not returned: TornBytes reports
// its size. A line that does not parse is a *LineError.
func (r *Reader) Next() (Entry, error) {
	if r.torn > 0 {
		return Entry{}, io.EOF
	}
	raw, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		raw, err = readLongLine(r.br, raw)
	}
	if err == io.EOF {
		r.torn = len(raw)
		return Entry{}, io.EOF
	}
	if err != nil {
		return Entry{}, fmt.Errorf("reading the audit log: %w", err)
	}
	r.line++
	d, err := decodeLine(raw[:len(raw)-1])
	if err != nil {
		return Entry{}, &LineError{Line: r.line, Err: err}
	}
	t, err := time.Parse(time.RFC3339Nano, d.time)
	if err != nil {
		return Entry{}, &LineError{Line: r.line, Err: fmt.Errorf("not a valid entry: bad time %q", d.time)}
	}
	d.Time = t
	return d.Entry, nil
}

// Line is the 1-based line number of the entry Next returned last.
func (r *Reader) Line() int { return r.line }

// TornBytes is the size of a partial entry at the end of the log, once
// Next has reached it; 0 if there is none.
func (r *Reader) TornBytes() int { return r.torn }
