package grant

import (
	"regexp"
	"testing"
)

func TestPlaceholder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind  Kind
		env   string
		shape string
		size  int
	}{
		{GitHub, "GH_TOKEN", `^ghp_moatplaceholder0+$`, 40},
		{GitHub, "GITHUB_TOKEN", `^ghp_moatplaceholder0+$`, 40},
		{Anthropic, "ANTHROPIC_API_KEY", `^sk-ant-api03-moat-placeholder-0+AA$`, 108},
		{OpenAI, "OPENAI_API_KEY", `^sk-proj-moat-placeholder-0+$`, 164},
		// The shape of a Google API key, which Gemini CLI's redaction knows.
		{Gemini, "GEMINI_API_KEY", `^AIzaSy[a-zA-Z0-9_-]{33}$`, 39},
	}
	for _, tt := range tests {
		g, _ := Builtin(tt.kind)
		v := g.Placeholder()[tt.env]
		if !regexp.MustCompile(tt.shape).MatchString(v) || len(v) != tt.size {
			t.Errorf("%s placeholder %s = %q (len %d), want %s of length %d", tt.kind, tt.env, v, len(v), tt.shape, tt.size)
		}
		if !IsPlaceholder("Bearer " + v) {
			t.Errorf("IsPlaceholder(%q) = false", v)
		}
	}
	http := Grant{Name: "x", Kind: HTTP}
	if env := http.Placeholder(); len(env) != 0 {
		t.Errorf("http placeholder = %v, want none", env)
	}
	if IsPlaceholder(testToken) {
		t.Error("IsPlaceholder(test token) = true")
	}
}
