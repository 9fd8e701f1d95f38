package runtime

import (
	"bytes"
	"strings"
	"testing"
)

func TestJoinedLines(t *testing.T) {
	const ts1, ts2, ts3 = "2026-11-28T10:00:00.000000001Z ", "2026-11-28T10:00:00.000000002Z ", "2026-11-28T10:00:01Z "
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name, in, want string
	}{
		{name: "short lines", in: ts1 + "a\n" + ts2 + "b c\n", want: ts1 + "a\n" + ts2 + "b c\n"},
		{name: "a long line split by the engine",
			in:   ts1 + x(engineMessage) + ts2 + x(engineMessage) + ts2 + x(7232) + "\n" + ts3 + "short\n",
			want: ts1 + x(40000) + "\n" + ts3 + "short\n"},
		{name: "a line of exactly one message",
			in:   ts1 + x(engineMessage) + ts2 + "\n" + ts3 + "next\n",
			want: ts1 + x(engineMessage) + "\n" + ts3 + "next\n"},
		{name: "a long line the engine did not split", in: ts1 + x(engineMessage) + "yyyy zz\n" + ts3 + "next\n",
			want: ts1 + x(engineMessage) + "yyyy zz\n" + ts3 + "next\n"},
		{name: "a long line ending without a newline", in: ts1 + x(engineMessage) + ts2 + "end",
			want: ts1 + x(engineMessage) + "end"},
		{name: "no timestamps at all", in: "hello world\n" + x(engineMessage) + "more text\n",
			want: "hello world\n" + x(engineMessage) + "more text\n"},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 7, 4096, len(tt.in)} {
			var buf bytes.Buffer
			j := newJoinedLines(&buf)
			for i := 0; i < len(tt.in); i += size {
				if _, err := j.Write([]byte(tt.in[i:min(i+size, len(tt.in))])); err != nil {
					t.Fatal(err)
				}
			}
			if buf.String() != tt.want {
				t.Errorf("%s, writes of %d: got %d bytes %.60q...%.60q, want %d bytes", tt.name, size, buf.Len(),
					buf.String(), buf.String()[max(0, buf.Len()-60):], len(tt.want))
			}
		}
	}
}

func TestReadTail(t *testing.T) {
	tests := []struct {
		in    string
		limit int64
		want  string
	}{
		{"", 4, ""},
		{"abc", 4, "abc"},
		{"abcdef", 4, "cdef"},
		{strings.Repeat("x", 200<<10) + "end", 3, "end"},
	}
	for _, tc := range tests {
		got, err := readTail(strings.NewReader(tc.in), tc.limit)
		if err != nil || string(got) != tc.want {
			t.Errorf("readTail(%d bytes, %d) = %.10q, %v; want %q", len(tc.in), tc.limit, got, err, tc.want)
		}
	}
}
