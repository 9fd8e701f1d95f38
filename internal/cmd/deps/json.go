package deps

import (
	"maps"
	"slices"

	"github.com/moatsh/moat/internal/deps"
)

// entryJSON is a registry entry as 'moat deps list --json' shows it. Its
// keys are stable (only ever added), all present, lists [] when empty:
// scripts read it, so the registry's Go names and install internals
// (download sums, tarball layouts) stay out.
type entryJSON struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Install     string            `json:"install"`
	Default     string            `json:"default"`
	Versions    []string          `json:"versions"`
	Pins        map[string]string `json:"pins"`
	Commands    []string          `json:"commands"`
	Requires    []string          `json:"requires"`
	Packages    []string          `json:"packages"`
	Aliases     []string          `json:"aliases"`
}

func registryJSON(reg []deps.Entry) []entryJSON {
	out := make([]entryJSON, 0, len(reg))
	for _, e := range reg {
		pins := maps.Clone(e.Pins)
		if pins == nil {
			pins = map[string]string{}
		}
		out = append(out, entryJSON{
			Name: e.Name, Description: e.Description, Install: string(e.Method), Default: e.Default,
			Versions: orEmpty(e.Versions), Pins: pins, Commands: orEmpty(slices.Sorted(maps.Keys(e.Commands))),
			Requires: orEmpty(e.Requires), Packages: orEmpty(e.Packages), Aliases: orEmpty(e.Aliases),
		})
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
