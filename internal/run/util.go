package run

import (
	"sort"

	"github.com/moatsh/moat/internal/termtext"
)

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// printable is termtext.Quote: text from agent.yaml or the workspace never
// carries a control sequence into a message.
func printable(s string) string { return termtext.Quote(s) }
