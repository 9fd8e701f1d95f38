package config

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
)

// field is one top-level key of agent.yaml. Adding a key to the schema is a
// Config field, one entry here and its decode method.
type field struct {
	name   string
	decode func(d *decoder, n ast.Node, c *Config) error
}

// fields is sorted by name; the order is the one hints list them in.
var fields = []field{
	{"agent", (*decoder).agent},
	{"command", (*decoder).command},
	{"dependencies", (*decoder).dependencies},
	{"docker", (*decoder).docker},
	{"dockerfile", (*decoder).dockerfile},
	{"env", (*decoder).env},
	{"grants", (*decoder).grants},
	{"image", (*decoder).image},
	{"mcp", (*decoder).mcp},
	{"mounts", (*decoder).mounts},
	{"name", (*decoder).name},
	{"network", (*decoder).network},
	{"ports", (*decoder).ports},
	{"resources", (*decoder).resources},
}

func fieldNames() []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

func lookupField(name string) (field, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func validFieldsHint() string {
	return "Valid fields: " + strings.Join(fieldNames(), ", ") + "."
}

// document decodes the top-level mapping into c. A field set to null
// ("name:" with nothing after it) is the same as a missing field.
func (d *decoder) document(at ast.Node, c *Config) error {
	n, err := d.resolve(at)
	if err != nil || isNull(n) {
		return err
	}
	kvs, ok := pairs(n)
	if !ok {
		return d.errorf(at, validFieldsHint(), "expected a mapping of fields at the top level, got %s", kind(n))
	}
	seen := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if err := d.field(kv, c, seen); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) field(kv *ast.MappingValueNode, c *Config, seen map[string]string) error {
	name, err := d.key(kv.Key, "field name")
	if err != nil {
		return err
	}
	f, ok := lookupField(name)
	if !ok {
		return d.unknownField(kv.Key, name)
	}
	if first, dup := seen[name]; dup {
		return d.errorf(kv.Key, "Remove one of them.", "duplicate field %q%s", name, firstAt(first))
	}
	seen[name] = posString(kv.Key)
	v, err := d.resolve(kv.Value)
	if err != nil || isNull(v) {
		return err
	}
	return f.decode(d, kv.Value, c)
}

func (d *decoder) unknownField(n ast.Node, name string) error {
	hint := validFieldsHint()
	if s := suggest(name, fieldNames()); s != "" {
		hint = fmt.Sprintf("Did you mean %q?", s)
	}
	return d.errorf(n, hint, "unknown field %q", name)
}

func (d *decoder) name(n ast.Node, c *Config) error {
	s, err := d.str(n, "name")
	if err != nil {
		return err
	}
	if p := checkName(s); p != nil {
		return d.errorAt(n, p)
	}
	c.Name = s
	return nil
}

// agent takes the name of an agent profile; which names exist is
// internal/agent's to check (Config.AgentLine and AgentCol say where, for
// its error).
func (d *decoder) agent(n ast.Node, c *Config) error {
	s, err := d.str(n, "agent")
	if err != nil {
		return err
	}
	if !agentNamePattern().MatchString(s) {
		return d.errorf(n, "Write the name of an agent, e.g. agent: claude.", "agent: %q is not an agent's name", s)
	}
	c.Agent = s
	c.AgentLine, c.AgentCol = position(n)
	return nil
}

var agentNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`) })

func (d *decoder) dependencies(n ast.Node, c *Config) error {
	specs, nodes, err := d.strList(n, "dependencies", writeAsList("dependencies"))
	if err != nil {
		return err
	}
	set, i, p := resolveDependencies(specs)
	if p != nil {
		if i >= 0 {
			n = nodes[i]
		}
		return d.errorAt(n, p)
	}
	c.Dependencies, c.DependencySpecs = set, specs
	return nil
}

func (d *decoder) env(at ast.Node, c *Config) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	kvs, ok := pairs(n)
	if !ok {
		return d.errorf(at, "Write one NAME: value pair per line under env:, e.g. FOO: bar.",
			"env: expected a mapping of names to strings, got %s", kind(n))
	}
	env := make(map[string]string, len(kvs))
	seen := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if err := d.envVar(kv, env, seen); err != nil {
			return err
		}
	}
	c.Env = env
	return nil
}

func (d *decoder) envVar(kv *ast.MappingValueNode, env, seen map[string]string) error {
	k, err := d.key(kv.Key, "env name")
	if err != nil {
		return err
	}
	if p := checkEnvName(k); p != nil {
		return d.errorAt(kv.Key, p)
	}
	if first, dup := seen[k]; dup {
		return d.errorf(kv.Key, "Remove one of them.", "duplicate env name %q%s", k, firstAt(first))
	}
	seen[k] = posString(kv.Key)
	v, err := d.str(kv.Value, "env "+k)
	if err != nil {
		return err
	}
	if p := checkEnvValue(k, v); p != nil {
		return d.errorAt(kv.Value, p)
	}
	env[k] = v
	return nil
}

func (d *decoder) mounts(n ast.Node, c *Config) error {
	specs, nodes, err := d.strList(n, "mounts", writeAsList("mounts"))
	if err != nil {
		return err
	}
	mounts := make([]Mount, 0, len(specs))
	seen := make(map[string]string, len(specs))
	for i, s := range specs {
		m, p := parseMount(s)
		if p != nil {
			return d.errorAt(nodes[i], p)
		}
		if first, dup := seen[m.Target]; dup {
			return d.errorAt(nodes[i], duplicateTarget(s, m.Target, first))
		}
		seen[m.Target] = posString(nodes[i])
		mounts = append(mounts, m)
	}
	c.Mounts = mounts
	return nil
}

func (d *decoder) command(n ast.Node, c *Config) error {
	args, nodes, err := d.strList(n, "command", commandHint)
	if err != nil {
		return err
	}
	if i, p := checkCommand(args); p != nil {
		if i >= 0 {
			n = nodes[i]
		}
		return d.errorAt(n, p)
	}
	c.Command = args
	return nil
}

// commandHint is the remedy for a command written as a plain string: moat
// never guesses how to split it or which shell to use.
func commandHint(s string) string {
	return fmt.Sprintf("Write a list: command: %s, or command: %s to run it with a shell.",
		flowList(strings.Fields(s)), flowList([]string{"sh", "-c", s}))
}
