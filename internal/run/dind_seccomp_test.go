package run

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

type seccompRule struct {
	Names    []string `json:"names"`
	Action   string   `json:"action"`
	Args     []any    `json:"args"`
	Includes struct {
		Caps []string `json:"caps"`
	} `json:"includes"`
}

type seccompProfile struct {
	DefaultAction string        `json:"defaultAction"`
	Syscalls      []seccompRule `json:"syscalls"`
}

// dindContainerCaps are every capability a docker:dind run container ever
// holds (initCapabilities and dindCapabilities), in the profile's spelling.
func dindContainerCaps() []string {
	var caps []string
	for _, c := range union(initCapabilities, dindCapabilities) {
		caps = append(caps, "CAP_"+c)
	}
	return caps
}

// allows reports whether the profile lets a process of the run container
// make the call: an allow rule names it, with no condition on the
// arguments, gated on no capability or on one the container holds.
func (p seccompProfile) allows(name string, caps []string) bool {
	for _, r := range p.Syscalls {
		if r.Action != "SCMP_ACT_ALLOW" || !slices.Contains(r.Names, name) || len(r.Args) > 0 {
			continue
		}
		if len(r.Includes.Caps) == 0 || slices.ContainsFunc(r.Includes.Caps, func(c string) bool { return slices.Contains(caps, c) }) {
			return true
		}
	}
	return false
}

func TestDindSeccompProfile(t *testing.T) {
	var p seccompProfile
	if err := json.Unmarshal(dindSeccomp, &p); err != nil {
		t.Fatalf("the embedded profile is not valid JSON: %v", err)
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Errorf("default action %q, want SCMP_ACT_ERRNO", p.DefaultAction)
	}
	caps := dindContainerCaps()
	tests := []struct {
		call  string
		allow bool
	}{
		// what the daemon in its user namespace needs
		{"unshare", true}, {"setns", true}, {"mount", true}, {"umount2", true}, {"pivot_root", true},
		{"clone", true}, {"clone3", true}, {"chroot", true}, {"keyctl", true}, {"read", true}, {"execve", true},
		// what nothing in the run may do, SYS_ADMIN held or not
		{"bpf", false}, {"perf_event_open", false}, {"kexec_load", false}, {"kexec_file_load", false},
		{"init_module", false}, {"finit_module", false}, {"delete_module", false}, {"open_by_handle_at", false},
		{"reboot", false}, {"swapon", false}, {"swapoff", false}, {"quotactl", false}, {"syslog", false},
		{"lookup_dcookie", false}, {"fanotify_init", false}, {"iopl", false}, {"ioperm", false}, {"acct", false},
		{"settimeofday", false}, {"clock_settime", false}, {"add_key", true}, {"vhangup", false}, {"nfsservctl", false},
	}
	for _, tc := range tests {
		if got := p.allows(tc.call, caps); got != tc.allow {
			t.Errorf("%s allowed = %v, want %v", tc.call, got, tc.allow)
		}
	}
}

func TestDindSecurityOpt(t *testing.T) {
	opt, err := dindSecurityOpt()
	if err != nil {
		t.Fatal(err)
	}
	if len(opt) != 1 || !strings.HasPrefix(opt[0], "seccomp={") || strings.Contains(opt[0], "\n") || strings.Contains(opt[0], "unconfined") {
		t.Fatalf("got %.80q..., want one compact seccomp=<profile JSON>", opt)
	}
	if !json.Valid([]byte(strings.TrimPrefix(opt[0], "seccomp="))) {
		t.Errorf("the option's profile is not valid JSON")
	}
}
