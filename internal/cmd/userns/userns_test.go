package userns

import (
	"slices"
	"testing"

	"github.com/moatsh/moat/internal/userns"
)

func TestReexecArgs(t *testing.T) {
	base := userns.Options{UID: 1000, GID: 1001, SubStart: 100000, SubCount: 65536, Setup: "/run/x", Own: []string{"/var/lib/buildkit"}}
	slirp := base
	slirp.Slirp, slirp.SlirpAPI = true, "/run/s.sock"
	ids := []string{"moat", "userns-run", "--uid", "1000", "--gid", "1001", "--sub-start", "100000", "--sub-count", "65536"}
	tests := []struct {
		name string
		o    userns.Options
		args []string
		want []string
	}{
		{"drops the root steps", base, []string{"buildkitd", "--setup", "x"}, append(slices.Clone(ids), "--", "buildkitd", "--setup", "x")},
		{"keeps slirp", slirp, []string{"dockerd"}, append(slices.Clone(ids), "--slirp", "--slirp-api", "/run/s.sock", "--", "dockerd")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := reexecArgs(tc.o, tc.args); !slices.Equal(got, tc.want) {
				t.Errorf("reexecArgs = %q, want %q", got, tc.want)
			}
		})
	}
}
