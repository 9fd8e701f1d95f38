//go:build linux

package userns

import "testing"

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"agent user", Options{UID: 1000, GID: 1000, SubStart: 100000, SubCount: 65536}, true},
		{"root uid", Options{UID: 0, GID: 1000, SubStart: 100000, SubCount: 65536}, false},
		{"root gid", Options{UID: 1000, GID: 0, SubStart: 100000, SubCount: 65536}, false},
		{"range from 0", Options{UID: 1000, GID: 1000, SubStart: 0, SubCount: 65536}, false},
		{"empty range", Options{UID: 1000, GID: 1000, SubStart: 100000, SubCount: 0}, false},
		{"range holds the uid", Options{UID: 100001, GID: 1000, SubStart: 100000, SubCount: 65536}, false},
		{"range holds the gid", Options{UID: 1000, GID: 165535, SubStart: 100000, SubCount: 65536}, false},
		{"range past the end", Options{UID: 1000, GID: 1000, SubStart: 1<<32 - 10, SubCount: 65536}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestRunRefusesRootMap(t *testing.T) {
	code, err := Run(Options{UID: 0, GID: 0, SubStart: 100000, SubCount: 65536}, []string{"true"})
	if err == nil || code != 125 {
		t.Errorf("Run with uid 0 = %d, %v; want 125 and an error", code, err)
	}
}
