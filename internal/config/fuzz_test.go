package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error it returns is
// an *Error with a position, and that what it accepts validates and survives
// a round trip through JSON (which is YAML) with the same digest. The seed
// corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("agent.yaml", data)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted %q, Validate says %v", data, err)
		}
		again, err := Parse("agent.yaml", toJSON(t, c))
		if err != nil {
			t.Fatalf("re-parsing %q as %s: %v", data, toJSON(t, c), err)
		}
		if !sameConfig(c, again) || c.Digest() != again.Digest() {
			t.Fatalf("round trip of %q: got %#v, want %#v", data, again, c)
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want *Error", err, err)
	}
	if e.File != "agent.yaml" || e.Line < 1 || e.Col < 1 || e.Msg == "" {
		t.Fatalf("error without a position or message: %#v", e)
	}
}

// toJSON writes c back as agent.yaml in JSON syntax.
func toJSON(t *testing.T, c *Config) []byte {
	t.Helper()
	doc := map[string]any{}
	if c.Name != "" {
		doc["name"] = c.Name
	}
	if c.Dependencies != nil {
		doc["dependencies"] = c.Dependencies
	}
	if c.Env != nil {
		doc["env"] = c.Env
	}
	if c.Mounts != nil {
		specs := make([]string, len(c.Mounts))
		for i, m := range c.Mounts {
			specs[i] = m.String()
		}
		doc["mounts"] = specs
	}
	if c.Command != nil {
		doc["command"] = c.Command
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameConfig(a, b *Config) bool {
	return a.Name == b.Name && reflect.DeepEqual(a.Dependencies, b.Dependencies) &&
		reflect.DeepEqual(a.Env, b.Env) && reflect.DeepEqual(a.Mounts, b.Mounts) &&
		reflect.DeepEqual(a.Command, b.Command)
}
