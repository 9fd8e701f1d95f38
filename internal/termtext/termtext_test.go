package termtext

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

var cases = []struct {
	name, in, want string
}{
	{name: "plain", in: "hello, wörld\n\tindented\n", want: "hello, wörld\n\tindented\n"},
	{name: "OSC 52 clipboard write, BEL", in: "a\x1b]52;c;cm0gLXJmIH4=\x07b", want: "ab"},
	{name: "OSC 52 clipboard write, ST", in: "a\x1b]52;c;cm0gLXJmIH4=\x1b\\b", want: "ab"},
	{name: "window title", in: "a\x1b]0;pwned\x07b", want: "ab"},
	{name: "DA query", in: "a\x1b[cb\x1b[>0c", want: "ab"},
	{name: "DECRQSS query", in: "a\x1bP$qm\x1b\\b", want: "ab"},
	{name: "8-bit CSI as a character", in: "a\u009b6nb", want: "ab"},
	{name: "8-bit OSC and ST as characters", in: "a\u009d0;t\u009cb", want: "ab"},
	{name: "8-bit CSI as a raw byte", in: "a\x9b6n", want: "a\uFFFD6n"},
	{name: "colours", in: "\x1b[1;31mred\x1b[0m", want: "red"},
	{name: "cursor moves and erase", in: "a\x1b[2J\x1b[Hb\x1b[?1049hc", want: "abc"},
	{name: "full reset", in: "a\x1bcb", want: "ab"},
	{name: "charset designation", in: "a\x1b(0b\x1b(Bc", want: "abc"},
	{name: "APC, PM, SOS", in: "a\x1b_x\x1b\\b\x1b^y\x1b\\c\x1bXz\x1b\\d", want: "abcd"},
	{name: "BEL, backspace, DEL, NUL", in: "a\x07b\x08c\x7fd\x00e", want: "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe"},
	{name: "other C1", in: "a\u0085b\u008dc", want: "a\uFFFDb\uFFFDc"},
	{name: "invalid UTF-8", in: "a\xffb\xc3", want: "a\uFFFDb\uFFFD"},
	{name: "bare CR cannot overwrite a line", in: "rm -rf ~\rls      \n", want: "rm -rf ~\nls      \n"},
	{name: "CRLF is one line break", in: "a\r\nb\r\n", want: "a\nb\n"},
	{name: "unterminated OSC hides only its line", in: "a\x1b]0;title\nb\n", want: "a\nb\n"},
	{name: "unterminated OSC ends after maxSeq", in: "a\x1b]" + strings.Repeat("x", maxSeq-1) + "yz", want: "ayz"},
	{name: "ESC before a control", in: "a\x1b\nb", want: "a\nb"},
	{name: "CSI broken by a control", in: "a\x1b[1\x07b", want: "a\uFFFDb"},
	{name: "ESC at the end", in: "a\x1b", want: "a"},
}

func TestString(t *testing.T) {
	for _, tt := range cases {
		if got := String(tt.in); got != tt.want {
			t.Errorf("%s: String(%.80q) = %.80q, want %.80q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestWriterSplits feeds every case one byte per write and at every split
// point: a sequence split across writes is still caught.
func TestWriterSplits(t *testing.T) {
	for _, tt := range cases {
		for split := 0; split <= len(tt.in); split++ {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			w.Write([]byte(tt.in[:split]))
			w.Write([]byte(tt.in[split:]))
			w.Flush()
			if buf.String() != tt.want {
				t.Fatalf("%s: split at %d: got %q, want %q", tt.name, split, buf.String(), tt.want)
			}
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for i := range len(tt.in) {
			w.Write([]byte{tt.in[i]})
		}
		w.Flush()
		if buf.String() != tt.want {
			t.Fatalf("%s: byte by byte: got %q, want %q", tt.name, buf.String(), tt.want)
		}
	}
}

func TestField(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "sh -c make", want: "sh -c make"},
		{in: "a\nfake row\tcol\r", want: `a\nfake row\tcol\r`},
		{in: "x\x1b]0;t\x07y", want: "xy"},
	}
	for _, tt := range tests {
		if got := Field(tt.in); got != tt.want {
			t.Errorf("Field(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "/home/u/data", want: "/home/u/data"},
		{in: "", want: "''"},
		{in: "/w/$(touch /tmp/x)", want: "'/w/$(touch /tmp/x)'"},
		{in: "/w/a b", want: "'/w/a b'"},
		{in: "/w/it's", want: `'/w/it'\''s'`},
		{in: "/w/`id`;x", want: "'/w/`id`;x'"},
	}
	for _, tt := range tests {
		if got := ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for s, want := range map[string]bool{"/w/data": true, "/w/é": true, "/w/\x1b]0;x\x07": false, "/w/a\nb": false, "/w/\xff": false} {
		if got := Printable(s); got != want {
			t.Errorf("Printable(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestWriterHoldsNothing: a writer inside an endless OSC writes nothing
// and keeps nothing; text after maxSeq bytes shows again.
func TestWriterHoldsNothing(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Write([]byte("\x1b]52;c;"))
	junk := bytes.Repeat([]byte("A"), 1<<20)
	w.Write(junk)
	if buf.Len() != 1<<20-maxSeq+len("]52;c;") {
		t.Fatalf("wrote %d bytes, want the text after the first %d", buf.Len(), maxSeq)
	}
	if cap(w.buf) > 2*chunk*len(replacement) {
		t.Fatalf("buffer grew to %d bytes", cap(w.buf))
	}
}

// safe reports whether s holds nothing a terminal would act on.
func safe(s string, oneLine bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\n' || r == '\t' {
			if oneLine {
				return false
			}
			continue
		}
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			return false
		}
	}
	return true
}

func FuzzString(f *testing.F) {
	for _, tt := range cases {
		f.Add(tt.in, 3)
	}
	f.Fuzz(func(t *testing.T, s string, split int) {
		out := String(s)
		if !safe(out, false) {
			t.Fatalf("String(%q) = %q: control characters left", s, out)
		}
		if fo := Field(s); !safe(fo, true) {
			t.Fatalf("Field(%q) = %q: control characters left", s, fo)
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if split < 1 {
			split = 1
		}
		for i := 0; i < len(s); i += split {
			w.Write([]byte(s[i:min(i+split, len(s))]))
		}
		w.Flush()
		if buf.String() != out {
			t.Fatalf("writer in pieces of %d: %q, String: %q", split, buf.String(), out)
		}
		if q := ShellQuote(s); q != s && (!strings.HasPrefix(q, "'") || !strings.HasSuffix(q, "'")) {
			t.Fatalf("ShellQuote(%q) = %q", s, q)
		}
	})
}
