package sidecar

import (
	"bytes"
	"strings"
	"testing"
)

func TestSidecarMain(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"help lists the commands", []string{"--help"}, 0, []string{"proxy", "init-wait", "userns-run"}},
		{"proxy lists serve and relay", []string{"proxy", "--help"}, 0, []string{"serve", "relay"}},
		{"kube lists the pod helpers", []string{"kube", "--help"}, 0, []string{"setup", "done", "tar-in", "tar-out", "init", "keeper"}},
		{"a bad flag is a usage error", []string{"proxy", "relay", "--bogus"}, 2, []string{"moat-sidecar: unknown flag: --bogus"}},
		{"a missing flag is a failure", []string{"proxy", "relay"}, 1, []string{`required flag "socket" not set`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := Main(tc.args, &out, &out); code != tc.wantCode {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
