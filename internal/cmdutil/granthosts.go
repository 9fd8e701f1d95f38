package cmdutil

import (
	"fmt"
	"io"
	"slices"

	"github.com/moatsh/moat/internal/grant"
)

// GrantHosts maps each named grant to the hosts its credential goes to,
// which a strict run allows, for 'moat policy suggest' and the summary of
// what a run's proxy refused. A grant that is not stored any more is left
// out, with a note on errOut: its hosts get rules like any other host's.
func GrantHosts(errOut io.Writer, open func() (*grant.Store, error), names []string) map[string][]string {
	if len(names) == 0 || open == nil {
		return nil
	}
	var stored []grant.Grant
	gs, err := open()
	if err == nil {
		stored, err = gs.List()
	}
	if err != nil {
		fmt.Fprintf(errOut, "note: reading your grants: %v; their hosts get rules like any other\n", err)
	}
	hosts := map[string][]string{}
	for _, name := range names {
		i := slices.IndexFunc(stored, func(g grant.Grant) bool { return g.Name == name })
		if i < 0 {
			if err == nil {
				fmt.Fprintf(errOut, "note: grant %s is not stored; its hosts get rules like any other\n", name)
			}
			continue
		}
		hosts[name] = stored[i].EffectiveHosts()
	}
	return hosts
}
