package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// hostileInputs are the worst shapes of a 1 MiB agent.yaml found for the
// YAML parser: deep nesting in every YAML syntax, alias fan-out, long flat
// collections and long text full of punctuation. want is the start of the
// error Parse must return, and line:col where it must point.
func hostileInputs() []struct {
	name, yaml, want string
	line, col        int
} {
	half := maxFileSize / 2
	indented := func() string {
		var b strings.Builder
		for i := 0; b.Len()+i+3 <= maxFileSize; i++ {
			b.WriteString(strings.Repeat(" ", i) + "a:\n")
		}
		return b.String()
	}
	aliases := func() string {
		var b strings.Builder
		b.WriteString("x: &a [git, git, git, git, git, git, git, git]\n")
		for i := 0; b.Len() < maxFileSize-200; i++ {
			fmt.Fprintf(&b, "%c%d: &%c%d [*a, *a, *a, *a, *a, *a, *a, *a]\n", 'a'+i%26, i, 'a'+i%26, i)
		}
		return b.String()
	}
	keys := func(n int) string {
		var b strings.Builder
		b.WriteString("env:\n")
		for i := 0; i < n && b.Len() < maxFileSize-32; i++ {
			fmt.Fprintf(&b, "  A%d: b\n", i)
		}
		return b.String()
	}
	return []struct {
		name, yaml, want string
		line, col        int
	}{
		{"flow sequences", strings.Repeat("[", half) + strings.Repeat("]", half), "nesting deeper than 64 levels", 1, 65},
		{"flow mappings", strings.Repeat("{a: ", maxFileSize/5) + strings.Repeat("}", maxFileSize/5), "nesting deeper than 64 levels", 1, 257},
		{"block sequences", strings.Repeat("- ", half-1) + "x\n", "nesting deeper than 64 levels", 1, 129},
		{"indented mappings", indented(), "nesting deeper than 64 levels", 65, 65},
		{"mixed", "command:\n" + strings.Repeat("- a: [{b: ", maxFileSize/20), "nesting deeper than 64 levels", 2, 307},
		{"aliases", aliases(), "too many lines and YAML indicators", 0, 0},
		{"long flow list", "dependencies: [" + strings.Repeat("git, ", (maxFileSize-32)/5) + "]\n", "too many lines and YAML indicators", 0, 0},
		{"long block list", "grants:\n" + strings.Repeat("  - github\n", (maxFileSize-16)/11), "too many lines and YAML indicators", 0, 0},
		{"many keys", keys(maxFileSize), "too many lines and YAML indicators", 0, 0},
		{"4500 list items", "dependencies: [" + strings.Repeat("git, ", 4500) + "]\n", "too many YAML tokens", 1, 10249},
		{"1500 keys", keys(1500), "too many YAML tokens", 1366, 10},
		{"comments", strings.Repeat("#\n", half), "too many lines and YAML indicators", 0, 0},
		{"punctuation in a string", `name: "` + strings.Repeat(",", maxFileSize-16) + "\"\n", "too many lines and YAML indicators", 0, 0},
		{"larger than 1 MiB", "name: x\n" + strings.Repeat(" ", maxFileSize), "the file is larger than 1 MiB", 0, 0},
	}
}

// TestParseHostile checks that Parse refuses each hostile shape with an
// error that says what is wrong, where, and what to do, before the YAML
// parser spends time or memory on it (BenchmarkParseHostile measures that).
func TestParseHostile(t *testing.T) {
	t.Parallel()
	for _, tt := range hostileInputs() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.name != "larger than 1 MiB" && len(tt.yaml) > maxFileSize {
				t.Fatalf("input is %d bytes, more than %d", len(tt.yaml), maxFileSize)
			}
			_, err := Parse("agent.yaml", []byte(tt.yaml))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			if !strings.HasPrefix(e.Msg, tt.want) || e.Remedy == "" {
				t.Fatalf("got %q (remedy %q), want %q and a remedy", e.Msg, e.Remedy, tt.want)
			}
			if tt.line != 0 && (e.Line != tt.line || e.Col != tt.col) {
				t.Fatalf("got %d:%d, want %d:%d", e.Line, e.Col, tt.line, tt.col)
			}
			if tt.line == 0 && e.Line < 1 && tt.name != "larger than 1 MiB" {
				t.Fatalf("error without a position: %v", e)
			}
		})
	}
}

// TestParseNestingLimit checks the edge: 64 levels parse, 65 do not, in
// each syntax that nests.
func TestParseNestingLimit(t *testing.T) {
	t.Parallel()
	indented := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(strings.Repeat(" ", i) + "a:\n")
		}
		return b.String()
	}
	tests := []struct {
		name string
		nest func(n int) string
	}{
		{"flow sequences", func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }},
		{"flow mappings", func(n int) string { return strings.Repeat("{a: ", n) + "b" + strings.Repeat("}", n) }},
		{"block sequences", func(n int) string { return strings.Repeat("- ", n) + "x\n" }},
		{"indented mappings", indented},
		{"block in flow", func(n int) string {
			return "command:\n" + strings.Repeat("  - ", n-1) + "x\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Parse("agent.yaml", []byte(tt.nest(maxDepth))); err != nil && strings.Contains(err.Error(), "nesting") {
				t.Fatalf("%d levels: %v", maxDepth, err)
			}
			_, err := Parse("agent.yaml", []byte(tt.nest(maxDepth+1)))
			if err == nil || !strings.Contains(err.Error(), "nesting deeper than 64 levels") {
				t.Fatalf("%d levels: got %v, want a nesting error", maxDepth+1, err)
			}
		})
	}
}

// TestParseAliasesNotExpanded checks that an alias is decoded where it is
// used, never copied: a list of aliases to lists is refused at once.
// TestParseLargestAccepted checks that the file BenchmarkParseHostile
// uses as the costliest accepted one is accepted.
func TestParseLargestAccepted(t *testing.T) {
	t.Parallel()
	c, err := Parse("agent.yaml", []byte(largestAccepted()))
	if err != nil || len(c.Env) != (maxTokens-2)/3 {
		t.Fatalf("got %v, want %d env variables", err, (maxTokens-2)/3)
	}
}

func TestParseAliasesNotExpanded(t *testing.T) {
	t.Parallel()
	yaml := "x: &a [git, git]\ny: &b [*a, *a, *a]\n"
	for _, field := range []string{"dependencies", "grants", "command", "mounts"} {
		_, err := Parse("agent.yaml", []byte(strings.Replace(yaml, "y:", field+":", 1)))
		if err == nil {
			t.Fatalf("%s: got no error", field)
		}
	}
	_, err := Parse("agent.yaml", []byte("dependencies: &b [*a]\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown alias "*a"`) {
		t.Fatalf("got %v, want unknown alias", err)
	}
}

// largestAccepted is the costliest file within the bounds: as many
// distinct block mapping keys as the token bound allows (the parser's
// slowest shape per token), decoded in full.
func largestAccepted() string {
	var b strings.Builder
	b.WriteString("env:\n")
	for i := range (maxTokens - 2) / 3 {
		fmt.Fprintf(&b, "  A%d: b\n", i)
	}
	return b.String()
}

// BenchmarkParseHostile measures Parse on each hostile input and on the
// largest accepted one; docs/benchmarks.md records the numbers.
func BenchmarkParseHostile(b *testing.B) {
	inputs := []struct{ name, yaml string }{{"largest accepted", largestAccepted()}}
	for _, in := range hostileInputs() {
		inputs = append(inputs, struct{ name, yaml string }{in.name, in.yaml})
	}
	for _, in := range inputs {
		data := []byte(in.yaml)
		b.Run(strings.ReplaceAll(in.name, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = Parse("agent.yaml", bytes.Clone(data))
			}
		})
	}
}
