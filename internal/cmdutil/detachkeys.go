package cmdutil

import (
	"fmt"
	"io"
	"strings"
)

// DefaultDetachKeys is the sequence that detaches from an attached run,
// as in docker.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// ParseDetachKeys reads a detach sequence in docker's form: keys separated
// by commas, each a single character or "ctrl-" and one of a-z, @, [, \,
// ], ^ or _.
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("invalid detach keys %q: give at least one key, such as %q", s, DefaultDetachKeys)
	}
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		b, err := parseKey(k)
		if err != nil {
			return nil, fmt.Errorf("invalid detach keys %q: %w", s, err)
		}
		keys = append(keys, b)
	}
	return keys, nil
}

func parseKey(k string) (byte, error) {
	if ctrl, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-"); ok && len(ctrl) == 1 {
		switch c := ctrl[0]; {
		case c >= 'a' && c <= 'z':
			return c - 'a' + 1, nil
		case c == '@', c == '[', c == '\\', c == ']', c == '^', c == '_':
			return c - '@', nil
		}
		return 0, fmt.Errorf("%q is not a control key: use ctrl- and a letter or one of @ [ \\ ] ^ _", k)
	}
	if len(k) != 1 || k[0] < 0x20 || k[0] > 0x7e {
		return 0, fmt.Errorf("%q is not a key: use one character or ctrl- and a letter", k)
	}
	return k[0], nil
}

// DetachReader passes input through until it reads the detach sequence,
// then reports io.EOF with Detached set. Bytes that start the sequence are
// held back until the next byte shows whether it goes on; a partial
// sequence is then passed on as typed.
type DetachReader struct {
	r        io.Reader
	keys     []byte
	matched  int    // bytes of keys seen at the end of input so far
	pending  []byte // output not yet returned
	Detached bool
}

// NewDetachReader watches r for keys.
func NewDetachReader(r io.Reader, keys []byte) *DetachReader {
	return &DetachReader{r: r, keys: keys}
}

func (d *DetachReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.Detached {
			return 0, io.EOF
		}
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		d.scan(buf[:n])
		if err != nil && len(d.pending) == 0 {
			return 0, err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// scan moves input to pending, holding back a started sequence.
func (d *DetachReader) scan(in []byte) {
	for _, b := range in {
		if d.Detached {
			return // what follows the sequence is not the command's
		}
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				d.Detached = true
			}
			continue
		}
		// Not the sequence after all: what was held back goes on, and
		// this byte may start it again.
		d.pending = append(d.pending, d.keys[:d.matched]...)
		d.matched = 0
		if b == d.keys[0] {
			d.matched = 1
			if len(d.keys) == 1 {
				d.Detached = true
			}
			continue
		}
		d.pending = append(d.pending, b)
	}
}
