package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// section decodes a mapping of settings named name (config.yaml's
// kubernetes:, router:): each key must be one of fields, once; setting
// decodes its value. example is the section written as a flow mapping,
// for the error when it is not a mapping. A null section sets nothing.
func (d *decoder) section(at ast.Node, name, example string, fields []string, setting func(key string, value ast.Node) error) error {
	n, err := d.resolve(at)
	if err != nil || isNull(n) {
		return err
	}
	kvs, ok := pairs(n)
	if !ok {
		return d.errorf(at, "Write it as a mapping, e.g. "+name+": "+example+".", "%s: expected a mapping, got %s", name, kind(n))
	}
	seen := map[string]string{}
	for _, kv := range kvs {
		key, err := d.key(kv.Key, name+" setting")
		if err != nil {
			return err
		}
		if !slices.Contains(fields, key) {
			hint := "Valid " + name + " settings: " + strings.Join(fields, ", ") + "."
			if s := suggest(key, fields); s != "" {
				hint = fmt.Sprintf("Did you mean %q?", s)
			}
			return d.errorf(kv.Key, hint, "unknown %s setting %q", name, key)
		}
		if first, dup := seen[key]; dup {
			return d.errorf(kv.Key, "Remove one of them.", "duplicate %s setting %q%s", name, key, firstAt(first))
		}
		seen[key] = posString(kv.Key)
		if err := setting(key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}
