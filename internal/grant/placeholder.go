package grant

import "strings"

// Placeholders are well-formed but plainly fake credentials that the agent
// sees in its environment, so SDKs and CLIs start normally; the proxy puts
// the real credential on the wire. Each keeps the provider's prefix and a
// realistic length, and spells "moat-placeholder" (or, where only
// alphanumerics are allowed, "moatplaceholder") followed by zeros:
//
//	GH_TOKEN, GITHUB_TOKEN  ghp_moatplaceholder000000000000000000000    (classic PAT: ghp_ + 36)
//	ANTHROPIC_API_KEY       sk-ant-api03-moat-placeholder-000…000-000AA (108 characters, ends "AA")
//	OPENAI_API_KEY          sk-proj-moat-placeholder-000…000            (164 characters)
//
// http grants have no environment variable: the agent's client sends
// whatever it likes and the proxy replaces the header.
var placeholders = map[Kind]map[string]string{
	GitHub: {
		"GH_TOKEN":     fake("ghp_moatplaceholder", 40, ""),
		"GITHUB_TOKEN": fake("ghp_moatplaceholder", 40, ""),
	},
	Anthropic: {"ANTHROPIC_API_KEY": fake("sk-ant-api03-moat-placeholder-", 108, "AA")},
	OpenAI:    {"OPENAI_API_KEY": fake("sk-proj-moat-placeholder-", 164, "")},
}

// fake pads prefix with zeros to n characters, ending in suffix.
func fake(prefix string, n int, suffix string) string {
	return prefix + strings.Repeat("0", n-len(prefix)-len(suffix)) + suffix
}

// Placeholder returns the environment variables the agent sees for g, with
// fake values. It returns a new map, empty for http grants.
func (g Grant) Placeholder() map[string]string {
	env := map[string]string{}
	for k, v := range placeholders[g.Kind] {
		env[k] = v
	}
	return env
}

// IsPlaceholder reports whether value is one of the placeholders, so the
// proxy can tell a placeholder that leaked to an unexpected host.
func IsPlaceholder(value string) bool {
	for _, env := range placeholders {
		for _, v := range env {
			if strings.Contains(value, v) {
				return true
			}
		}
	}
	return false
}
