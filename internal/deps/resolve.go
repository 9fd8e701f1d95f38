package deps

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Resolve parses specs, then resolves them with ResolveSpecs. A spec that
// does not parse is reported before any conflict. Errors are *SpecError.
func Resolve(specs []string) ([]Dep, error) {
	parsed := make([]Spec, 0, len(specs))
	for _, s := range specs {
		sp, err := Parse(s)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, sp)
	}
	return ResolveSpecs(parsed)
}

// ResolveSpecs adds what specs require (npm: needs node at its default
// version unless node is listed, pip: needs python, go: needs go), drops
// exact duplicates, rejects two versions or docker modes of one thing, and
// returns the set sorted by Key. Errors are *SpecError.
func ResolveSpecs(specs []Spec) ([]Dep, error) {
	r := resolver{deps: map[string]Dep{}, raw: map[string]string{}}
	for _, sp := range specs {
		if err := r.add(sp); err != nil {
			return nil, err
		}
	}
	r.addRequired()
	return r.sorted(), nil
}

type resolver struct {
	deps map[string]Dep    // by identity
	raw  map[string]string // identity -> the spec that listed it
}

func (r *resolver) add(sp Spec) *SpecError {
	d := depFor(sp)
	id := d.identity()
	prev, ok := r.deps[id]
	switch {
	case !ok:
		r.deps[id], r.raw[id] = d, sp.Raw
	case prev.Key() != d.Key():
		return conflict(sp.Raw, r.raw[id], d)
	}
	return nil
}

// addRequired adds, at their default versions, the registry entries that
// the set requires and does not list.
func (r *resolver) addRequired() {
	queue := r.sorted()
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, name := range requirements(d) {
			e, _ := Lookup(name)
			req := depFor(Spec{Raw: name, Name: e.Name, Method: e.Method})
			if _, ok := r.deps[req.identity()]; !ok {
				r.deps[req.identity()] = req
				queue = append(queue, req)
			}
		}
	}
}

func (r *resolver) sorted() []Dep {
	out := make([]Dep, 0, len(r.deps))
	for _, d := range r.deps {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Dep) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

func requirements(d Dep) []string {
	var out []string
	if e, ok := Lookup(d.Name); ok && e.Method == d.Method {
		out = append(out, e.Requires...)
	}
	if name, ok := methodRequires[d.Method]; ok {
		out = append(out, name)
	}
	return out
}

// depFor resolves a parsed spec: registry entries get their default
// version, their pin and their Debian packages.
func depFor(sp Spec) Dep {
	d := Dep{Name: sp.Name, Method: sp.Method, Version: sp.Version, Mode: sp.Mode}
	if d.Method == MethodDebian {
		d.Packages = []string{d.Name} // checked: a Debian package name
		return d
	}
	e, ok := Lookup(sp.Name)
	if !ok || e.Method != sp.Method {
		return d
	}
	if d.Version == "" {
		d.Version = e.Default
	}
	if pin, ok := e.Pins[d.Version]; ok {
		d.Version = pin
	}
	d.Sums = e.Sums[d.Version]
	d.Tarballs = slices.Clone(e.Tarballs[d.Version])
	d.Commands = maps.Clone(e.Commands)
	d.Packages = slices.Sorted(slices.Values(e.Packages))
	if d.Method == MethodDocker && d.Mode == DockerDind {
		d.Packages = slices.Sorted(slices.Values(append(d.Packages, DindPackages...)))
	}
	return d
}

// DindPackages are the Debian packages docker:dind needs besides the
// daemon, whichever repository that comes from: the inner daemon runs in a
// user namespace whose network slirp4netns connects to the run's loopback.
var DindPackages = []string{"iproute2", "slirp4netns"}

func conflict(raw, prevRaw string, d Dep) *SpecError {
	if d.Method == MethodDocker {
		return dockerError(raw, fmt.Sprintf("conflicts with %q; choose one docker mode", prevRaw))
	}
	return invalid(raw, fmt.Sprintf("conflicts with %q; list one version of %s", prevRaw, d.Name))
}
