package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// An entry is stored as one line of JSON with a fixed layout:
//
//	{"seq":N,"time":"...","kind":"...","data":{"k":"v",...},"prev":"...","hash":"..."}
//
// with data keys sorted and strings escaped as encoding/json does, so any
// JSON tool reads it. moat writes and reads it with the hand-written codec
// below: it is several times faster than reflection, and because the
// verifier re-encodes every entry and compares bytes, any edit that JSON
// decoding would forgive (case of a key, spacing, escapes) is caught.

// appendEntry appends e's line, without the newline.
func appendEntry(b []byte, e Entry) []byte {
	b = appendBody(b, e)
	b = append(b, `,"hash":`...)
	b = appendString(b, e.Hash)
	return append(b, '}')
}

// appendBody appends the part of e's line that its hash covers.
func appendBody(b []byte, e Entry) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"time":`...)
	b = appendString(b, e.Time.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"kind":`...)
	b = appendString(b, e.Kind)
	if len(e.Data) > 0 {
		b = append(b, `,"data":{`...)
		keys := make([]string, 0, len(e.Data))
		for k := range e.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e.Data[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"prev":`...)
	return appendString(b, e.Prev)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s the way encoding/json does (HTML-safe escapes,
// invalid UTF-8 replaced by U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

var errLayout = errors.New("not an entry line")

// decodeEntry parses a line written by appendEntry (without its newline)
// and checks that re-encoding gives the same bytes.
func decodeEntry(line []byte) (Entry, error) {
	d, err := decodeLine(line)
	if err != nil {
		return d.Entry, err
	}
	t, err := time.Parse(time.RFC3339Nano, d.time)
	if err != nil {
		return d.Entry, fmt.Errorf("not a valid entry: bad time %q", d.time)
	}
	d.Time = t
	if !bytes.Equal(appendEntry(make([]byte, 0, len(line)), d.Entry), line) {
		return d.Entry, fmt.Errorf("entry %d is not in its original encoding: it was edited", d.Seq)
	}
	return d.Entry, nil
}

// decoded is a parsed line: the entry without its time, which the fast
// path leaves as text, and the bytes its hash covers.
type decoded struct {
	Entry
	time string
	body []byte
}

// decodeLine parses a line's layout without converting the time or
// re-encoding: verification hashes body instead, which catches any edit.
func decodeLine(line []byte) (decoded, error) {
	p := lineParser{b: line}
	var d decoded
	p.lit(`{"seq":`)
	d.Seq = p.uint()
	p.lit(`,"time":`)
	d.time = p.str()
	p.lit(`,"kind":`)
	d.Kind = p.str()
	if p.peek(`,"data":{`) {
		p.lit(`,"data":{`)
		d.Data = map[string]string{}
		for first := true; p.err == nil && !p.peek("}"); first = false {
			if !first {
				p.lit(",")
			}
			k := p.str()
			p.lit(":")
			d.Data[k] = p.str()
		}
		p.lit("}")
	}
	p.lit(`,"prev":`)
	d.Prev = p.str()
	d.body = line[:len(line)-len(p.b)]
	p.lit(`,"hash":`)
	d.Hash = p.str()
	p.lit("}")
	if p.err != nil || len(p.b) != 0 {
		return d, fmt.Errorf("not a valid entry: %v", orLayout(p.err))
	}
	return d, nil
}

func orLayout(err error) error {
	if err == nil {
		return errLayout
	}
	return err
}

// lineParser consumes a line left to right; the first mismatch sets err
// and makes every later step a no-op.
type lineParser struct {
	b   []byte
	err error
}

func (p *lineParser) peek(s string) bool { return p.err == nil && bytes.HasPrefix(p.b, []byte(s)) }

func (p *lineParser) lit(s string) {
	if p.err != nil {
		return
	}
	if !bytes.HasPrefix(p.b, []byte(s)) {
		p.err = fmt.Errorf("expected %s", s)
		return
	}
	p.b = p.b[len(s):]
}

func (p *lineParser) uint() uint64 {
	if p.err != nil {
		return 0
	}
	i := 0
	for i < len(p.b) && p.b[i] >= '0' && p.b[i] <= '9' {
		i++
	}
	n, err := strconv.ParseUint(string(p.b[:i]), 10, 64)
	if err != nil {
		p.err = errLayout
		return 0
	}
	p.b = p.b[i:]
	return n
}

func (p *lineParser) str() string {
	if p.err != nil {
		return ""
	}
	if len(p.b) == 0 || p.b[0] != '"' {
		p.err = errLayout
		return ""
	}
	escaped := false
	for i := 1; i < len(p.b); i++ {
		switch p.b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			raw := p.b[:i+1]
			p.b = p.b[i+1:]
			if !escaped {
				return string(raw[1 : len(raw)-1])
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				p.err = err
			}
			return s
		}
	}
	p.err = errLayout
	return ""
}
