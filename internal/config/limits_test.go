package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "512m", want: 512 << 20},
		{in: "2g", want: 2 << 30},
		{in: "2G", want: 2 << 30},
		{in: "2GiB", want: 2 << 30},
		{in: "2gb", want: 2 << 30},
		{in: "1.5g", want: 3 << 29},
		{in: "0.5t", want: 1 << 39},
		{in: "64k", want: 64 << 10},
		{in: "4096b", want: 4096},
		{in: "512", err: "has no unit"},
		{in: "", err: "is not a size"},
		{in: "g", err: "is not a size"},
		{in: "1.5.5g", err: "is not a size"},
		{in: "-1g", err: "is not a size"},
		{in: "2x", err: "unknown unit"},
		{in: "2 g", err: "is not a size"},
		{in: "1e3m", err: "is not a size"},
		{in: "99999999999t", err: "too large"},
		{in: "1.0000000001g", err: "is not a size"},
	} {
		got, err := ParseSize(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSize(%q): got %d, %v, want an error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseSize(%q): got %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{512 << 20: "512m", 2 << 30: "2g", 3 << 29: "1536m", 1 << 40: "1t", 1000: "1000b", 64 << 10: "64k"} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d): got %q, want %q", in, got, want)
		}
		if back, err := ParseSize(want); err != nil || back != in {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", in, back, err)
		}
	}
}

func TestResources(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want Limits
		err  string // "line:col: message", then the remedy after " | "
	}{
		{yaml: "resources: {memory: 2g, cpus: 1.5, pids: 100}\n", want: Limits{Memory: 2 << 30, NanoCPUs: 1_500_000_000, Pids: 100}},
		{yaml: "resources:\n  cpus: 2\n", want: Limits{NanoCPUs: 2_000_000_000}},
		{yaml: "resources:\n  cpus: 0.25\n  memory:\n", want: Limits{NanoCPUs: 250_000_000}},
		{yaml: "resources:\n", want: Limits{}},
		{yaml: "resources: {memory: 512}\n", err: "1:21: resources.memory: 512 has no unit | Write a size with a unit"},
		{yaml: "resources: {memory: 2x}\n", err: `1:21: resources.memory: "2x": unknown unit "x"`},
		{yaml: "resources: {memory: 1m}\n", err: "1:21: resources.memory: 1m is out of range: it must be at least 32m"},
		{yaml: "resources: {cpus: \"2\"}\n", err: "1:19: resources.cpus: expected a number, got a string | Remove the quotes"},
		{yaml: "resources: {cpus: 99999999999999999999}\n", err: "1:19: resources.cpus: 99999999999999999999 is too large | Write a decimal number"},
		{yaml: "resources: {cpus: 1.5e3}\n", err: "1:19: resources.cpus: 1.5e3 is not a decimal number of CPUs"},
		{yaml: "resources: {cpus: 0}\n", err: "1:19: resources.cpus: 0 is out of range"},
		{yaml: "resources: {cpus: 0.001}\n", err: "1:19: resources.cpus: 0.001 is out of range: it must be at least 0.01"},
		{yaml: "resources: {pids: 1.5}\n", err: "1:19: resources.pids: 1.5 is not a whole number"},
		{yaml: "resources: {pids: 0x20}\n", err: "1:19: resources.pids: 0x20 is not a whole number"},
		{yaml: "resources: {pids: 4}\n", err: "1:19: resources.pids: 4 is out of range: it must be at least 32"},
		{yaml: "resources: {pids: 99999999999}\n", err: "1:19: resources.pids: 99999999999 is out of range"},
		{yaml: "resources: {memroy: 1g}\n", err: `1:13: unknown resource "memroy" | Did you mean "memory"?`},
		{yaml: "resources: {pids: 64, pids: 65}\n", err: `1:23: duplicate resource "pids" (first at 1:13)`},
		{yaml: "resources: 2g\n", err: "1:12: resources: expected a mapping, got a string | Write it as a mapping, e.g. resources: {memory: 4g, cpus: 2, pids: 1024}."},
	} {
		c, err := Parse("agent.yaml", []byte(tc.yaml))
		if tc.err != "" {
			assertError(t, tc.yaml, err, tc.err)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if c.Resources.Limits != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.yaml, c.Resources.Limits, tc.want)
		}
	}
}

// assertError checks an *Error against "line:col: msg | remedy"; the
// remedy part is a prefix, and may be left out.
func assertError(t *testing.T, input string, err error, want string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%q: got %v, want an *Error %q", input, err, want)
		return
	}
	wantMsg, wantHint, _ := strings.Cut(want, " | ")
	got := strings.TrimPrefix(e.Error(), e.File+":")
	if !strings.HasPrefix(got, wantMsg) || !strings.HasPrefix(e.Remedy, wantHint) {
		t.Errorf("%q:\ngot  %s | %s\nwant %s", input, got, e.Remedy, want)
	}
}

func TestGlobalLimits(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want Limits
		err  string
	}{
		{yaml: "limits: {memory: 8g, cpus: 2, pids: 4096}\n", want: Limits{Memory: 8 << 30, NanoCPUs: 2e9, Pids: 4096}},
		{yaml: "base_image: debian:bookworm-slim\nlimits:\n  pids: 128\n", want: Limits{Pids: 128}},
		{yaml: "limits: {memory: lots}\n", err: `1:18: limits.memory: "lots" is not a size`},
		{yaml: "limits: {cpu: 2}\n", err: `1:10: unknown limit "cpu" | Did you mean "cpus"?`},
	} {
		path := filepath.Join(t.TempDir(), GlobalFileName)
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		g, err := LoadGlobal(path)
		if tc.err != "" {
			assertError(t, tc.yaml, err, tc.err)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if g.Limits != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.yaml, g.Limits, tc.want)
		}
	}
}

func TestRunLimits(t *testing.T) {
	defaults := Limits{Memory: 4 << 30, NanoCPUs: 2e9, Pids: 4096}
	for _, tc := range []struct {
		name, agent string
		user        Limits
		want        Limits
		err         string
	}{
		{name: "defaults", want: defaults},
		{name: "user's limits", user: Limits{Memory: 8 << 30, Pids: 256}, want: Limits{Memory: 8 << 30, NanoCPUs: 2e9, Pids: 256}},
		{name: "agent.yaml lowers", agent: "resources: {memory: 1g, cpus: 0.5, pids: 64}\n", user: Limits{Pids: 256},
			want: Limits{Memory: 1 << 30, NanoCPUs: 5e8, Pids: 64}},
		{name: "agent.yaml equals the user's limit", agent: "resources: {pids: 256}\n", user: Limits{Pids: 256},
			want: Limits{Memory: 4 << 30, NanoCPUs: 2e9, Pids: 256}},
		{name: "agent.yaml above the user's limit", agent: "name: x\nresources:\n  pids: 100000\n", user: Limits{Pids: 256},
			err: "agent.yaml:3:9: resources.pids: 100000 is more than the 256 limits.pids allows in /home/u/.moat/config.yaml" +
				" | Lower resources.pids in agent.yaml to at most 256, or raise limits.pids in /home/u/.moat/config.yaml."},
		{name: "agent.yaml above the default", agent: "resources: {memory: 16g}\n",
			err: "agent.yaml:1:21: resources.memory: 16g is more than the 4g moat allows by default (limits.memory is not set in /home/u/.moat/config.yaml)" +
				" | Lower resources.memory in agent.yaml to at most 4g, or set limits.memory in /home/u/.moat/config.yaml."},
		{name: "agent.yaml above the user's cpus", agent: "resources: {cpus: 1.5}\n", user: Limits{NanoCPUs: 1e9},
			err: "agent.yaml:1:19: resources.cpus: 1.5 is more than the 1 limits.cpus allows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("agent.yaml", []byte(tc.agent))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.RunLimits(tc.user, defaults, "/home/u/.moat/config.yaml")
			if tc.err != "" {
				want, hint, _ := strings.Cut(tc.err, " | ")
				var e *Error
				if !errors.As(err, &e) || !strings.HasPrefix(e.Error(), want) || !strings.HasPrefix(e.Remedy, hint) {
					t.Fatalf("got %v (remedy %q), want %s", err, hintOf(err), tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func hintOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Remedy
	}
	return ""
}
