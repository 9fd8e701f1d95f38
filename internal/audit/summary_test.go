package audit

import "testing"

func TestCountPluralises(t *testing.T) {
	for n, want := range map[int]string{0: "0 signed checkpoints", 1: "1 signed checkpoint", 2: "2 signed checkpoints"} {
		if got := count(n, "signed checkpoint", "signed checkpoints"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
