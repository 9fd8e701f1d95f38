package run

import (
	"sort"
	"strconv"
	"unicode"
)

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// printable returns s as it is when every rune is printable or a space,
// else Go-quoted: text from agent.yaml or the workspace never carries a
// control sequence into a message.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}
