package fakeapi

import "testing"

func TestCallsDone(t *testing.T) {
	calls := []ToolCall{{Name: "a", Until: "A ok"}, {Name: "b"}, {Name: "c", Until: "C ok"}}
	for _, tt := range []struct {
		outputs []string
		want    int
	}{
		{nil, 0},
		{[]string{"not ready"}, 0},
		{[]string{"not ready", "A ok"}, 1},
		{[]string{"A ok", "anything"}, 2},
		{[]string{"A ok", "x", "C ok", "more"}, 3},
	} {
		if got := callsDone(calls, tt.outputs); got != tt.want {
			t.Errorf("callsDone(%q) = %d, want %d", tt.outputs, got, tt.want)
		}
	}
	var many []string
	for range maxRetries + 1 {
		many = append(many, "never ready")
	}
	if got := callsDone(calls, many); got != 1 {
		t.Errorf("after %d failed tries: %d calls done, want the call given up (1)", len(many), got)
	}
}
