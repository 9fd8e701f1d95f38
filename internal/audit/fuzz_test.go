package audit

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeEntry: the line parser never panics or hangs, and whatever it
// accepts re-encodes to exactly the input.
func FuzzDecodeEntry(f *testing.F) {
	e := Entry{Seq: 7, Time: time.Date(2026, 11, 28, 10, 0, 0, 123, time.UTC), Kind: "net.request",
		Data: map[string]string{"host": "a<b>&c", "q": "x\"y\\z\n\u2028", "bad": "\xff"}, Prev: "p", Hash: "h"}
	f.Add(appendEntry(nil, e))
	f.Add([]byte(`{"seq":1,"time":"2026-11-28T10:00:00Z","kind":"k","prev":"a","hash":"b"}`))
	f.Add([]byte(`{"seq":1,"time":"x","kind":"k","data":{"a":"b",`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := decodeEntry(line)
		if err != nil {
			return
		}
		if got := appendEntry(nil, e); !bytes.Equal(got, line) {
			t.Fatalf("accepted %q but it re-encodes as %q", line, got)
		}
	})
}
