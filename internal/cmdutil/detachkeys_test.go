package cmdutil

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

func TestParseDetachKeys(t *testing.T) {
	tests := []struct {
		in      string
		want    []byte
		wantErr bool
	}{
		{in: "ctrl-p,ctrl-q", want: []byte{0x10, 0x11}},
		{in: "CTRL-A", want: []byte{0x01}},
		{in: "ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", want: []byte{0, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f}},
		{in: "a,ctrl-z,,", wantErr: true},
		{in: "q", want: []byte{'q'}},
		{in: "ctrl-p,x", want: []byte{0x10, 'x'}},
		{in: "", wantErr: true},
		{in: "ctrl-1", wantErr: true},
		{in: "ab", wantErr: true},
		{in: "ctrl-", wantErr: true},
		{in: "\t", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseDetachKeys(tt.in)
		if (err != nil) != tt.wantErr || !bytes.Equal(got, tt.want) {
			t.Errorf("ParseDetachKeys(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDetachReader(t *testing.T) {
	keys := []byte{0x10, 0x11} // ctrl-p,ctrl-q
	tests := []struct {
		name         string
		in           string
		want         string
		wantDetached bool
	}{
		{name: "plain input passes", in: "ls -l\r", want: "ls -l\r"},
		{name: "the sequence detaches", in: "ab\x10\x11", want: "ab", wantDetached: true},
		{name: "what follows the sequence is dropped", in: "a\x10\x11rest", want: "a", wantDetached: true},
		{name: "a partial sequence goes on", in: "\x10x", want: "\x10x"},
		{name: "a repeated first key restarts it", in: "\x10\x10\x11", want: "\x10", wantDetached: true},
		{name: "a partial sequence at the end of input is dropped", in: "a\x10", want: "a"},
		{name: "the second key alone passes", in: "\x11", want: "\x11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"whole", "byte by byte"} {
				var r io.Reader = bytes.NewReader([]byte(tt.in))
				if name == "byte by byte" {
					r = iotest.OneByteReader(r)
				}
				d := NewDetachReader(r, keys)
				got, err := io.ReadAll(d)
				if err != nil || string(got) != tt.want || d.Detached != tt.wantDetached {
					t.Errorf("%s: read %q, err %v, detached %v; want %q, detached %v", name, got, err, d.Detached, tt.want, tt.wantDetached)
				}
			}
		})
	}
}
