package grant

import (
	"maps"
	"strings"
)

// Placeholders are well-formed but plainly fake credentials that the agent
// sees in its environment, so SDKs and CLIs start normally; the proxy puts
// the real credential on the wire. Each kind declares its own in the kinds
// table. Each keeps the provider's prefix and a realistic length, and
// spells "moat-placeholder" (or, where only alphanumerics are allowed,
// "moatplaceholder") followed by zeros. A kind whose grants name their own
// header (http) has none: the agent's client sends whatever it likes and
// the proxy replaces the header.

// fake pads prefix with zeros to n characters, ending in suffix.
func fake(prefix string, n int, suffix string) string {
	return prefix + strings.Repeat("0", n-len(prefix)-len(suffix)) + suffix
}

// Placeholder returns the environment variables the agent sees for g, with
// fake values. It returns a new map, empty for http grants.
func (g Grant) Placeholder() map[string]string {
	env := map[string]string{}
	if k, ok := LookupKind(g.Kind); ok {
		maps.Copy(env, k.Placeholders)
	}
	return env
}

// IsPlaceholderMarked reports whether value spells the marker every
// placeholder carries, "moat-placeholder" or "moatplaceholder" (a login
// file's fake JWT carries it as its signature).
func IsPlaceholderMarked(value string) bool {
	return strings.Contains(value, "moat-placeholder") || strings.Contains(value, "moatplaceholder")
}

// IsPlaceholder reports whether value holds one of the placeholders, so the
// proxy can tell a placeholder that leaked to an unexpected host.
func IsPlaceholder(value string) bool {
	for _, k := range kinds {
		for _, v := range k.Placeholders {
			if strings.Contains(value, v) {
				return true
			}
		}
	}
	return false
}
