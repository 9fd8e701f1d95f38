package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/state"
)

// CompletionFunc is cobra's ValidArgsFunction.
type CompletionFunc func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective)

// CompleteRuns completes run references, names and IDs, from the run store
// alone (no engine: completion must be fast and work with the engine
// down). With activeOnly, only created and running runs are offered (stop,
// exec, attach). Only the first argument is completed unless many is set.
func CompleteRuns(f *Factory, activeOnly, many bool) CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many || f.Store == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		store, err := f.Store()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		runs, err := store.List()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return runCompletions(runs, activeOnly, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// runCompletions are the names and IDs of runs that start with
// toComplete, each with its status and command as the description, and
// none already given.
func runCompletions(runs []*state.Run, activeOnly bool, given []string, toComplete string) []cobra.Completion {
	taken := map[string]bool{}
	for _, a := range given {
		taken[a] = true
	}
	var out []cobra.Completion
	for _, r := range runs {
		if activeOnly && !r.Status.Active() || taken[r.Name] || taken[r.ID] {
			continue
		}
		desc := string(r.Status) + " " + strings.Join(r.Command, " ")
		for _, ref := range []string{r.Name, r.ID} {
			if ref != "" && strings.HasPrefix(ref, toComplete) {
				out = append(out, cobra.CompletionWithDesc(ref, desc))
			}
		}
	}
	return out
}

// CompleteGrants completes grant names from the credential store, for
// revoke and --grant.
func CompleteGrants(f *Factory) CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if f.Grants == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		store, err := f.Grants()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		grants, err := store.List()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return grantCompletions(grants, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func grantCompletions(grants []grant.Grant, toComplete string) []cobra.Completion {
	var out []cobra.Completion
	for _, g := range grants {
		if strings.HasPrefix(g.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(g.Name, string(g.Kind)+" "+strings.Join(g.Hosts, " ")))
		}
	}
	return out
}
