package run

import "testing"

func TestMountErrorHintQuotesThePath(t *testing.T) {
	tests := []struct {
		source string
		want   string
	}{
		{source: "/home/u/data", want: "Create it with\n  mkdir -p /home/u/data\nor remove the mount from agent.yaml."},
		{source: "/w/$(touch /tmp/x)", want: "Create it with\n  mkdir -p '/w/$(touch /tmp/x)'\nor remove the mount from agent.yaml."},
		{source: "/w/it's", want: "Create it with\n  mkdir -p '/w/it'\\''s'\nor remove the mount from agent.yaml."},
		{source: "/w/\x1b]0;pwned\x07", want: "Create that directory, or remove the mount from agent.yaml."},
	}
	for _, tt := range tests {
		e := &MountError{File: "agent.yaml", Source: tt.source}
		if got := e.Hint(); got != tt.want {
			t.Errorf("source %q: hint\n%s\nwant\n%s", tt.source, got, tt.want)
		}
	}
}
