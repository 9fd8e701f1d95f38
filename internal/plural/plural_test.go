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
