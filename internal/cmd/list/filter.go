package list

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/state"
)

// filterKeys are the keys --filter takes, each with how it matches a run.
// As with docker ps, values of one key are alternatives and different keys
// must all match.
var filterKeys = map[string]func(r *state.Run, value string) bool{
	"id":        func(r *state.Run, v string) bool { return strings.HasPrefix(r.ID, v) },
	"name":      func(r *state.Run, v string) bool { return strings.Contains(r.Name, v) },
	"state":     func(r *state.Run, v string) bool { return string(r.Status) == v },
	"status":    func(r *state.Run, v string) bool { return string(r.Status) == v },
	"workspace": func(r *state.Run, v string) bool { return r.Workspace == v },
	"exited": func(r *state.Run, v string) bool {
		return r.ExitCode != nil && !r.Status.Active() && strconv.Itoa(*r.ExitCode) == v
	},
}

var states = []string{string(state.Created), string(state.Running), string(state.Exited),
	string(state.Stopped), string(state.Failed), string(state.Lost)}

// runFilter is the parsed --filter flags: values by key.
type runFilter map[string][]string

// parseFilters checks every --filter KEY=VALUE; an unknown key or state
// is a usage error naming the valid ones. A workspace is made absolute,
// so that "workspace=." means this directory.
func parseFilters(args []string) (runFilter, error) {
	f := runFilter{}
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		if !ok {
			return nil, cmdutil.FlagErrorf("invalid filter %q: want KEY=VALUE", arg)
		}
		key = strings.ToLower(key)
		if _, known := filterKeys[key]; !known {
			return nil, cmdutil.FlagErrorf("invalid filter key %q: valid keys are %s", key, strings.Join(filterKeyNames(), ", "))
		}
		switch key {
		case "state", "status":
			if !slices.Contains(states, value) {
				return nil, cmdutil.FlagErrorf("invalid filter %s=%q: valid states are %s", key, value, strings.Join(states, ", "))
			}
			key = "state"
		case "exited":
			if _, err := strconv.Atoi(value); err != nil {
				return nil, cmdutil.FlagErrorf("invalid filter exited=%q: want an exit code", value)
			}
		case "workspace":
			abs, err := filepath.Abs(value)
			if err != nil {
				return nil, cmdutil.FlagErrorf("invalid filter workspace=%q: %v", value, err)
			}
			value = abs
		}
		f[key] = append(f[key], value)
	}
	return f, nil
}

func filterKeyNames() []string {
	names := make([]string, 0, len(filterKeys))
	for k := range filterKeys {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// match reports whether r passes every key's filter.
func (f runFilter) match(r *state.Run) bool {
	for key, values := range f {
		if !slices.ContainsFunc(values, func(v string) bool { return filterKeys[key](r, v) }) {
			return false
		}
	}
	return true
}

// selectRuns keeps the runs to show: those passing the filters, and
// without all only active ones, unless a state or exited filter asks for
// others (docker ps does the same with its status filter).
func selectRuns(runs []*state.Run, f runFilter, all bool) []*state.Run {
	all = all || len(f["state"]) > 0 || len(f["exited"]) > 0
	var out []*state.Run
	for _, r := range runs {
		if (all || r.Status.Active()) && f.match(r) {
			out = append(out, r)
		}
	}
	return out
}
