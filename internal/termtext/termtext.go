// Package termtext owns making untrusted text safe for the user's
// terminal: escape sequences (CSI, OSC such as clipboard writes and title
// changes, DCS, APC, PM, SOS) are dropped, lone control characters and
// invalid UTF-8 become U+FFFD, and a bare carriage return becomes a line
// break, so what the terminal shows is all the text and nothing the text
// tells it to do. It also quotes text for a shell, for remedies that name
// a command. It imports nothing from moat.
package termtext

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxSeq is how many bytes of one escape sequence are dropped at most; the
// rest of a longer (or unterminated) one shows as text, so a stray ESC ]
// hides no more than this.
const maxSeq = 4096

// String returns s with every control sequence dropped, for text of many
// lines: newlines and tabs stay, a carriage return ends a line.
func String(s string) string {
	if clean(s) {
		return s
	}
	var f filter
	return string(f.flush(f.feed(nil, []byte(s))))
}

// Field returns s for one line or one table cell: like String, and a
// newline, carriage return or tab shows as \n, \r or \t, so the text
// cannot add lines or columns.
func Field(s string) string {
	if clean(s) && !strings.ContainsAny(s, "\n\t") {
		return s
	}
	f := filter{oneLine: true}
	return string(f.flush(f.feed(nil, []byte(s))))
}

// clean reports whether s is valid UTF-8 with no control character but
// newline and tab: the common case, returned unchanged without copying.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}

// Writer writes to an underlying writer what String would make of the
// bytes written, however they are split across writes. It holds at most
// the last three bytes of an unfinished UTF-8 character; Flush writes them.
// It is safe to Flush while another goroutine writes.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	f   filter
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// chunk bounds the output buffer: input is filtered this much at a time.
const chunk = 32 << 10

// Write filters p; it reports len(p) written unless w fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for n := 0; n < len(p); {
		end := min(n+chunk, len(p))
		w.buf = w.f.feed(w.buf[:0], p[n:end])
		if _, err := w.w.Write(w.buf); err != nil {
			return n, err
		}
		n = end
	}
	return len(p), nil
}

// Flush writes an unfinished UTF-8 character held back as U+FFFD.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.f.flush(w.buf[:0])
	if len(out) == 0 {
		return nil
	}
	_, err := w.w.Write(out)
	return err
}

// ShellQuote returns s as one word for a POSIX shell: unchanged if it is
// made only of characters no shell treats specially, else single-quoted.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Printable reports whether s shows on a terminal as it is, on one line:
// a remedy may then quote it in a command for the user to copy.
func Printable(s string) bool { return utf8.ValidString(s) && Field(s) == s }

// Quote returns s as it is when it is Printable, else Go-quoted, so a
// message can name agent-chosen text unambiguously and without a control
// sequence.
func Quote(s string) string {
	if Printable(s) {
		return s
	}
	return strconv.QuoteToGraphic(s)
}
