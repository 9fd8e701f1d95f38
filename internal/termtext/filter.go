package termtext

import "unicode/utf8"

// state is where the filter is in the text: plain text, or inside one
// kind of escape sequence.
type state uint8

const (
	ground    state = iota
	escape          // after ESC
	escInter        // after ESC and intermediate bytes (ESC ( B, ...)
	csi             // control sequence: ESC [ or C1 CSI, up to a final byte
	str             // OSC, DCS, SOS, PM, APC: up to BEL or ST
	strEscape       // ESC inside a string: ST if a backslash follows
)

// filter turns untrusted bytes into text a terminal only shows. The zero
// value is ready; it keeps no more than an unfinished UTF-8 character.
type filter struct {
	oneLine bool // show \n, \r and \t escaped (Field)
	st      state
	n       int  // bytes of the current sequence so far
	cr      bool // the last character was \r (shown as a line break)
	pend    [utf8.UTFMax]byte
	npend   int
}

const replacement = "\uFFFD"

// feed filters p, appending the result to out.
func (f *filter) feed(out, p []byte) []byte {
	for _, c := range p {
		if f.npend == 0 && c < utf8.RuneSelf {
			out = f.rune(out, rune(c))
			continue
		}
		f.pend[f.npend] = c
		f.npend++
		out = f.decode(out, false)
	}
	return out
}

// decode handles the pending bytes once they make a character (or cannot);
// at the end of input (final) an unfinished one is invalid too.
func (f *filter) decode(out []byte, final bool) []byte {
	for f.npend > 0 {
		b := f.pend[:f.npend]
		if !final && !utf8.FullRune(b) {
			return out
		}
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			r, size = -1, 1 // an invalid byte
		}
		copy(f.pend[:], b[size:])
		f.npend -= size
		out = f.rune(out, r)
	}
	return out
}

// flush ends the input: an unfinished UTF-8 character shows as U+FFFD.
func (f *filter) flush(out []byte) []byte { return f.decode(out, true) }

// rune handles one character; -1 is a byte of invalid UTF-8.
func (f *filter) rune(out []byte, r rune) []byte {
	if f.st != ground {
		f.n++
		if f.n > maxSeq {
			f.st = ground // too long: the rest shows as text
		} else if f.inSequence(r) {
			return out
		}
	}
	return f.text(out, r)
}

// inSequence advances through an escape sequence and reports whether r
// belonged to it; if not, the sequence has ended and r is text.
func (f *filter) inSequence(r rune) bool {
	switch f.st {
	case escape:
		return f.afterEscape(r)
	case escInter:
		f.st = ground
		switch {
		case r >= 0x20 && r <= 0x2f:
			f.st = escInter
		case r >= 0x30 && r <= 0x7e:
		default:
			return false
		}
	case csi:
		switch {
		case r >= 0x20 && r <= 0x3f: // parameters and intermediates
		case r >= 0x40 && r <= 0x7e:
			f.st = ground
		default:
			f.st = ground
			return false
		}
	case str:
		switch r {
		case 0x07, 0x9c, 0x18, 0x1a: // BEL, ST, CAN, SUB end it
			f.st = ground
		case 0x1b:
			f.st = strEscape
		case '\n': // hides no more than the rest of a line
			f.st = ground
			return false
		}
	case strEscape:
		if r == '\\' {
			f.st = ground
			return true
		}
		f.st = escape
		return f.afterEscape(r)
	}
	return true
}

// afterEscape handles the character after ESC.
func (f *filter) afterEscape(r rune) bool {
	switch {
	case r == '[':
		f.st = csi
	case r == ']' || r == 'P' || r == 'X' || r == '^' || r == '_':
		f.st = str
	case r == 0x1b:
		f.n = 0 // ESC ESC: a new escape
	case r >= 0x20 && r <= 0x2f:
		f.st = escInter
	case r >= 0x30 && r <= 0x7e: // a two-character escape (ESC c resets the terminal)
		f.st = ground
	default:
		f.st = ground
		return false
	}
	return true
}

// text handles r outside any sequence: it starts one, shows as U+FFFD, or
// is written as it is.
func (f *filter) text(out []byte, r rune) []byte {
	cr := f.cr
	f.cr = false
	switch {
	case r == 0x1b:
		f.start(escape)
	case r == 0x9b:
		f.start(csi)
	case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // DCS, SOS, OSC, PM, APC
		f.start(str)
	case r == '\n' && f.oneLine:
		out = append(out, `\n`...)
	case r == '\n' && cr: // \r\n is one line break
	case r == '\r' && f.oneLine:
		out = append(out, `\r`...)
	case r == '\r':
		f.cr = true
		out = append(out, '\n')
	case r == '\t' && f.oneLine:
		out = append(out, `\t`...)
	case r == '\n' || r == '\t':
		out = append(out, byte(r))
	case r < 0x20 || r >= 0x7f && r <= 0x9f || r < 0:
		out = append(out, replacement...)
	default:
		out = utf8.AppendRune(out, r)
	}
	return out
}

func (f *filter) start(s state) { f.st, f.n = s, 0 }
