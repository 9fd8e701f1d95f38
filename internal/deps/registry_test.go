package deps

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	debianPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]+$`)
	fullVersion   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

func TestRegistrySorted(t *testing.T) {
	t.Parallel()
	names := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	got := names(Registry())
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("Registry() names not sorted and unique: %q", got)
	}
	if !slices.Equal(names(registry), got) {
		t.Fatalf("registry table is not kept sorted by name: %q", names(registry))
	}
}

func TestRegistryEntries(t *testing.T) {
	t.Parallel()
	for _, e := range Registry() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			checkEntryVersions(t, e)
			for _, p := range e.Packages {
				if !debianPackage.MatchString(p) {
					t.Errorf("package %q is not a Debian package name", p)
				}
			}
			if !slices.IsSorted(e.Packages) {
				t.Errorf("packages %q not sorted", e.Packages)
			}
			for _, r := range e.Requires {
				if _, err := Parse(r); err != nil {
					t.Errorf("requires %q: %v", r, err)
				}
			}
			if e.Method != MethodDocker {
				if _, err := Parse(e.Name); err != nil {
					t.Errorf("Parse(%q): %v", e.Name, err)
				}
			}
		})
	}
}

func checkEntryVersions(t *testing.T, e Entry) {
	t.Helper()
	if e.Method == MethodTarball {
		checkTarballEntry(t, e)
		return
	}
	if len(e.Versions) == 0 {
		if e.Default != "" || len(e.Pins) != 0 {
			t.Errorf("unversioned entry has default %q or pins %v", e.Default, e.Pins)
		}
		return
	}
	if !slices.Contains(e.Versions, e.Default) {
		t.Errorf("default %q not in versions %q", e.Default, e.Versions)
	}
	for _, v := range e.Versions {
		pin := e.Pins[v]
		if !fullVersion.MatchString(pin) || !strings.HasPrefix(pin, v+".") {
			t.Errorf("version %q pinned to %q, want a full %s.x release", v, pin, v)
		}
	}
	if len(e.Pins) != len(e.Versions) {
		t.Errorf("pins %v do not match versions %q", e.Pins, e.Versions)
	}
}

// TestAliasesUnambiguous checks that no alias is also a name or belongs to
// two entries, and that every alias is rejected with a suggestion.
func TestAliasesUnambiguous(t *testing.T) {
	t.Parallel()
	owner := map[string]string{}
	for _, e := range registry {
		owner[e.Name] = e.Name
	}
	for _, e := range registry {
		for _, a := range e.Aliases {
			if prev, ok := owner[a]; ok {
				t.Errorf("alias %q of %s is already %s", a, e.Name, prev)
			}
			owner[a] = e.Name
			if _, err := Parse(a); err == nil || !strings.Contains(err.Error(), "did you mean") {
				t.Errorf("Parse(%q) = %v, want a suggestion", a, err)
			}
		}
	}
}

func TestMethodRequiresExist(t *testing.T) {
	t.Parallel()
	for m, name := range methodRequires {
		if _, ok := Lookup(name); !ok {
			t.Errorf("%s requires %q, which is not in the registry", m, name)
		}
	}
}

func TestLookupReturnsCopy(t *testing.T) {
	t.Parallel()
	e, ok := Lookup("node")
	if !ok {
		t.Fatal(`Lookup("node") not found`)
	}
	e.Versions[0] = "changed"
	e.Pins["22"] = "changed"
	again, _ := Lookup("node")
	if again.Versions[0] == "changed" || again.Pins["22"] == "changed" {
		t.Fatal("Lookup shares its slices and maps with the registry")
	}
	if _, ok := Lookup("nodejs"); ok {
		t.Fatal(`Lookup("nodejs") found an alias`)
	}
}

// checkTarballEntry checks an agent CLI's record: every release is a full
// version with tarballs, each recorded with a SHA-512, for both of the
// architectures moat builds on, and the commands run what they unpack.
func checkTarballEntry(t *testing.T, e Entry) {
	t.Helper()
	if !slices.Contains(e.Versions, e.Default) || len(e.Pins) != 0 {
		t.Errorf("default %q not in versions %q, or pins %v (a release is pinned as is)", e.Default, e.Versions, e.Pins)
	}
	if len(e.Commands) == 0 {
		t.Error("no commands")
	}
	for _, v := range e.Versions {
		ts := e.Tarballs[v]
		if !fullVersion.MatchString(v) || len(ts) == 0 {
			t.Errorf("release %q: want a full version with tarballs, got %d", v, len(ts))
		}
		dirs := map[string][]string{}
		for _, tb := range ts {
			if !sha512Hex.MatchString(tb.SHA512) || tb.Package == "" || tb.Version == "" ||
				(tb.Root != "package" && !strings.HasPrefix(tb.Root, "package/")) {
				t.Errorf("release %s: tarball %+v: want a package, a version, a root in package/ and a hex SHA-512", v, tb)
			}
			dirs[tb.Dir] = append(dirs[tb.Dir], tb.Arch)
		}
		for dir, arches := range dirs {
			slices.Sort(arches)
			if !slices.Equal(arches, []string{""}) && !slices.Equal(arches, []string{"amd64", "arm64"}) {
				t.Errorf("release %s: %s is unpacked for %q, want every architecture or amd64 and arm64", v, dir, arches)
			}
		}
		for name, c := range e.Commands {
			for _, p := range append(slices.Clone(c.Path), c.Exec[0]) {
				if _, ok := dirs[strings.Split(p, "/")[0]]; !ok {
					t.Errorf("command %s: %q is in no unpacked directory", name, p)
				}
			}
		}
	}
}

var sha512Hex = regexp.MustCompile(`^[0-9a-f]{128}$`)
