package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Limits bound what one container of a run may use. A zero field is unset.
type Limits struct {
	Memory   int64 // bytes of memory (swap included: a run gets none)
	NanoCPUs int64 // CPU time, in billionths of a CPU: 1e9 is one CPU
	Pids     int64 // processes and threads
}

// Resources is agent.yaml's resources section: limits that may only lower
// the user's (config.yaml's limits, or moat's defaults).
type Resources struct {
	Limits
	at map[string]ast.Node // where each resource was written, for RunLimits' errors
}

// The ranges a limit must fall in. The minimums are what moat's own
// processes in the agent's container (the engine's init, moat-init, the
// egress relay) need to start a command at all; the maximums keep the
// arithmetic exact.
const (
	minMemory   = 32 << 20
	maxMemory   = 1 << 50
	minNanoCPUs = 10_000_000 // 0.01 CPU, the engine's own minimum
	maxNanoCPUs = 1 << 40
	minPids     = 32
	maxPids     = 1 << 22 // the kernel's pid_max limit
)

// limitNames are the keys of resources and limits, sorted.
var limitNames = []string{"cpus", "memory", "pids"}

// sizeUnits are the units of a size: binary, like docker --memory (1g is
// 1024m). "b", "kb" and "kib" all mean the same.
var sizeUnits = map[string]int64{"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

var sizePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+)(?:\.([0-9]{1,9}))?([a-zA-Z]*)$`) })

const sizeHint = "Write a size with a unit, such as 512m, 2g or 1.5g (binary units: 1g is 1024m)."

// ParseSize parses a size such as "512m", "2g" or "1.5g" into bytes. Units
// are binary (k, m, g, t, optionally followed by b or ib, in any case);
// b is bytes. A fraction of a byte is dropped.
func ParseSize(s string) (int64, error) {
	m := sizePattern().FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	if m[3] == "" {
		return 0, fmt.Errorf("%s has no unit", s)
	}
	u := strings.ToLower(m[3])
	if u != "b" {
		u = strings.TrimSuffix(strings.TrimSuffix(u, "b"), "i")
	}
	mult, ok := sizeUnits[u]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q", s, m[3])
	}
	whole, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || whole > maxMemory/mult {
		return 0, fmt.Errorf("%s is too large", s)
	}
	n := whole * mult
	if m[2] != "" {
		frac, _ := strconv.ParseInt(m[2], 10, 64) // at most 9 digits
		n += int64(float64(frac) / math.Pow10(len(m[2])) * float64(mult))
	}
	return n, nil
}

// FormatSize writes n bytes in the largest unit that divides it exactly,
// as ParseSize reads it back: "512m", "2g", "1000b".
func FormatSize(n int64) string {
	for _, u := range []string{"t", "g", "m", "k"} {
		if m := sizeUnits[u]; n != 0 && n%m == 0 {
			return strconv.FormatInt(n/m, 10) + u
		}
	}
	return strconv.FormatInt(n, 10) + "b"
}

// FormatCPUs writes nano CPUs as a decimal number of CPUs: "1.5".
func FormatCPUs(n int64) string {
	s := fmt.Sprintf("%d.%09d", n/1e9, n%1e9)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

var cpusPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]*)(?:\.([0-9]{1,9}))?$`) })

// parseCPUs parses a decimal number of CPUs ("2", "1.5") into nano CPUs.
func parseCPUs(s string) (int64, bool) {
	m := cpusPattern().FindStringSubmatch(s)
	if m == nil || m[1] == "" && m[2] == "" || len(m[1]) > 6 {
		return 0, false
	}
	whole, _ := strconv.ParseInt("0"+m[1], 10, 64)
	frac, _ := strconv.ParseInt(m[2]+strings.Repeat("0", 9-len(m[2])), 10, 64)
	return whole*1e9 + frac, true
}

// limitSection decodes a mapping of limits: agent.yaml's resources or
// config.yaml's limits (section names it in messages). It also returns
// the node of each limit, for positions.
func (d *decoder) limitSection(at ast.Node, section, kindName string) (Limits, map[string]ast.Node, error) {
	n, err := d.resolve(at)
	if err != nil {
		return Limits{}, nil, err
	}
	kvs, ok := pairs(n)
	if !ok {
		return Limits{}, nil, d.errorf(at, "Write it as a mapping, e.g. "+section+": {memory: 4g, cpus: 2, pids: 1024}.",
			"%s: expected a mapping, got %s", section, kind(n))
	}
	var l Limits
	nodes := map[string]ast.Node{}
	seen := map[string]string{}
	for _, kv := range kvs {
		k, err := d.key(kv.Key, kindName)
		if err != nil {
			return Limits{}, nil, err
		}
		if !slices.Contains(limitNames, k) {
			hint := "Valid " + kindName + "s: " + strings.Join(limitNames, ", ") + "."
			if s := suggest(k, limitNames); s != "" {
				hint = fmt.Sprintf("Did you mean %q?", s)
			}
			return Limits{}, nil, d.errorf(kv.Key, hint, "unknown %s %q", kindName, k)
		}
		if first, dup := seen[k]; dup {
			return Limits{}, nil, d.errorf(kv.Key, "Remove one of them.", "duplicate %s %q%s", kindName, k, firstAt(first))
		}
		seen[k] = posString(kv.Key)
		if v, err := d.resolve(kv.Value); err != nil || isNull(v) {
			if err != nil {
				return Limits{}, nil, err
			}
			continue
		}
		if err := d.limit(kv.Value, section+"."+k, k, &l); err != nil {
			return Limits{}, nil, err
		}
		nodes[k] = kv.Value
	}
	return l, nodes, nil
}

// limit decodes one limit, name being "memory", "cpus" or "pids".
func (d *decoder) limit(at ast.Node, what, name string, l *Limits) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	var p *problem
	switch name {
	case "memory":
		l.Memory, p = memoryValue(n, what)
	case "cpus":
		l.NanoCPUs, p = cpusValue(n, what)
	case "pids":
		l.Pids, p = pidsValue(n, what)
	}
	if p != nil {
		return d.errorAt(at, p)
	}
	return nil
}

func memoryValue(n ast.Node, what string) (int64, *problem) {
	var s string
	switch v := n.(type) {
	case *ast.StringNode:
		s = v.Value
	case *ast.IntegerNode, *ast.FloatNode:
		s = tokenValue(n)
	default:
		return 0, newProblem(sizeHint, "%s: expected a size, got %s", what, kind(n))
	}
	b, err := ParseSize(s)
	if err != nil {
		return 0, newProblem(sizeHint, "%s: %v", what, err)
	}
	if b < minMemory || b > maxMemory {
		return 0, newProblem(sizeHint, "%s: %s is out of range: it must be at least %s and at most %s", what, s, FormatSize(minMemory), FormatSize(maxMemory))
	}
	return b, nil
}

func cpusValue(n ast.Node, what string) (int64, *problem) {
	hint := "Write a decimal number of CPUs, such as 2 or 1.5."
	switch n.(type) {
	case *ast.IntegerNode, *ast.FloatNode:
	case *ast.StringNode:
		if !quoted(n) {
			// The YAML library leaves a number too large for it as a
			// plain string: it was written as a number.
			return 0, newProblem(hint, "%s: %s is too large", what, tokenValue(n))
		}
		return 0, newProblem("Remove the quotes. "+hint, "%s: expected a number, got a string", what)
	default:
		return 0, newProblem(hint, "%s: expected a number, got %s", what, kind(n))
	}
	s := tokenValue(n)
	v, ok := parseCPUs(s)
	if !ok {
		return 0, newProblem(hint, "%s: %s is not a decimal number of CPUs", what, s)
	}
	if v < minNanoCPUs || v > maxNanoCPUs {
		return 0, newProblem(hint, "%s: %s is out of range: it must be at least %s", what, s, FormatCPUs(minNanoCPUs))
	}
	return v, nil
}

func pidsValue(n ast.Node, what string) (int64, *problem) {
	hint := "Write a whole number of processes, such as 1024."
	s := tokenValue(n)
	if _, isInt := n.(*ast.IntegerNode); !isInt || strings.TrimLeft(s, "0123456789") != "" {
		return 0, newProblem(hint, "%s: %s is not a whole number", what, s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < minPids || v > maxPids {
		return 0, newProblem(hint, "%s: %s is out of range: it must be at least %d and at most %d", what, s, minPids, maxPids)
	}
	return v, nil
}

// resources decodes agent.yaml's resources section.
func (d *decoder) resources(at ast.Node, c *Config) error {
	l, nodes, err := d.limitSection(at, "resources", "resource")
	if err != nil {
		return err
	}
	c.Resources = Resources{Limits: l, at: nodes}
	return nil
}

// globalLimits decodes config.yaml's limits setting.
func (d *decoder) globalLimits(at ast.Node) (Limits, error) {
	l, _, err := d.limitSection(at, "limits", "limit")
	return l, err
}

// limitField is one limit for RunLimits: its name, how to read it from
// Limits and how to write a value.
type limitField struct {
	name   string
	get    func(*Limits) *int64
	format func(int64) string
}

var limitFields = []limitField{
	{"memory", func(l *Limits) *int64 { return &l.Memory }, FormatSize},
	{"cpus", func(l *Limits) *int64 { return &l.NanoCPUs }, FormatCPUs},
	{"pids", func(l *Limits) *int64 { return &l.Pids }, func(n int64) string { return strconv.FormatInt(n, 10) }},
}

// RunLimits returns the limits of a run's agent: agent.yaml's resources
// where set, else the user's limits (config.yaml, at userFile), else
// defaults. The user's limit (or the default where the user set none) is
// also the most agent.yaml may ask for: more is an *Error at the line of
// agent.yaml that asks.
func (c *Config) RunLimits(user, defaults Limits, userFile string) (Limits, error) {
	out := defaults
	for _, f := range limitFields {
		max, fromUser := *f.get(&defaults), *f.get(&user) != 0
		if fromUser {
			max = *f.get(&user)
		}
		*f.get(&out) = max
		want := *f.get(&c.Resources.Limits)
		if want == 0 {
			continue
		}
		if max != 0 && want > max {
			return Limits{}, c.aboveLimit(f, want, max, fromUser, userFile)
		}
		*f.get(&out) = want
	}
	return out, nil
}

func (c *Config) aboveLimit(f limitField, want, max int64, fromUser bool, userFile string) error {
	e := &Error{File: c.Path}
	if n := c.Resources.at[f.name]; n != nil {
		e.Line, e.Col = position(n)
	}
	e.Msg = fmt.Sprintf("resources.%s: %s is more than the %s limits.%s allows in %s", f.name, f.format(want), f.format(max), f.name, userFile)
	e.Remedy = fmt.Sprintf("Lower resources.%s in agent.yaml to at most %s, or raise limits.%s in %s.", f.name, f.format(max), f.name, userFile)
	if !fromUser {
		e.Msg = fmt.Sprintf("resources.%s: %s is more than the %s moat allows by default (limits.%s is not set in %s)", f.name, f.format(want), f.format(max), f.name, userFile)
		e.Remedy = fmt.Sprintf("Lower resources.%s in agent.yaml to at most %s, or set limits.%s in %s.", f.name, f.format(max), f.name, userFile)
	}
	return e
}

// quoted reports whether a scalar was written in quotes.
func quoted(n ast.Node) bool {
	tk := n.GetToken()
	return tk != nil && (tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType)
}
