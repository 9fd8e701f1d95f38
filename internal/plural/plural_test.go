package plural

import "testing"

func TestCount(t *testing.T) {
	tests := []struct {
		n     int
		nouns []string
		want  string
	}{
		{0, []string{"run"}, "0 runs"},
		{1, []string{"run"}, "1 run"},
		{2, []string{"run"}, "2 runs"},
		{1, []string{"entry", "entries"}, "1 entry"},
		{7, []string{"entry", "entries"}, "7 entries"},
		{-1, []string{"byte"}, "-1 bytes"},
	}
	for _, tt := range tests {
		if got := Count(tt.n, tt.nouns[0], tt.nouns[1:]...); got != tt.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tt.n, tt.nouns, got, tt.want)
		}
	}
}

// TestCountTakesSizes: sizes in an int64 and counts in a uint64 are
// worded as an int is.
func TestCountTakesSizes(t *testing.T) {
	if got := Count(int64(1), "byte"); got != "1 byte" {
		t.Errorf("Count(int64(1)) = %q, want 1 byte", got)
	}
	if got := Count(int64(1)<<40, "byte"); got != "1099511627776 bytes" {
		t.Errorf("Count(1<<40) = %q, want 1099511627776 bytes", got)
	}
	if got := Count(uint64(1)<<63, "entry", "entries"); got != "9223372036854775808 entries" {
		t.Errorf("Count(uint64 1<<63) = %q, want 9223372036854775808 entries", got)
	}
	if got := Noun(uint64(1), "is", "are"); got != "is" {
		t.Errorf("Noun(1, is, are) = %q, want is", got)
	}
}
