package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// WriteJSON writes v as indented JSON followed by a newline. encoding/json
// escapes C0 controls but writes DEL and the C1 controls (U+0080–U+009F,
// among them the 8-bit CSI) as they are; they are escaped too, so JSON of
// the agent's text is inert on a terminal and still the same values.
func WriteJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeC1(buf.Bytes()))
	return err
}

// escapeC1 writes DEL and C1 characters in valid JSON as \u escapes:
// outside strings JSON has none, so only strings change.
func escapeC1(b []byte) []byte {
	if !bytes.ContainsFunc(b, isC1) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if isC1(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

func isC1(r rune) bool { return r == 0x7f || r >= 0x80 && r <= 0x9f }
