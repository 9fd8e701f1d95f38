package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// decoder walks the YAML syntax tree of one file. Walking the tree ourselves,
// rather than unmarshalling into a struct, gives every key and value a
// position and keeps every message in moat's own words.
type decoder struct {
	file       string
	anchors    map[string]ast.Node // anchor name -> value, in document order
	dockerNode ast.Node            // the docker section, checked against dependencies at the end
}

// errorAt turns a problem found in the value n into an *Error at n.
func (d *decoder) errorAt(n ast.Node, p *problem) *Error {
	line, col := position(n)
	return &Error{File: d.file, Line: line, Col: col, Msg: p.msg, Remedy: p.hint, Err: p.err}
}

func (d *decoder) errorf(n ast.Node, hint, format string, args ...any) *Error {
	return d.errorAt(n, newProblem(hint, format, args...))
}

// position returns where n starts. A block mapping's own token is its first
// ":", so it points at its first key instead.
func position(n ast.Node) (line, col int) {
	switch v := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 {
			return position(v.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return position(v.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// posString renders the position of n as "line:col".
func posString(n ast.Node) string {
	line, col := position(n)
	return fmt.Sprintf("%d:%d", line, col)
}

// syntaxError converts a go-yaml parse error into an *Error.
func syntaxError(file string, err error) error {
	e := &Error{File: file, Msg: "invalid YAML: " + err.Error(), Err: err}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Msg = "invalid YAML: " + ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
		}
	}
	if strings.Contains(e.Msg, "tab character") {
		e.Remedy = "Indent with spaces: YAML does not allow tabs for indentation."
	}
	return e
}

// resolve follows anchors and aliases to the value they stand for. Tags are
// refused: they change a value's type behind the reader's back.
func (d *decoder) resolve(n ast.Node) (ast.Node, error) {
	for range 8 {
		switch v := n.(type) {
		case *ast.AnchorNode:
			d.anchors[tokenValue(v.Name)] = v.Value
			n = v.Value
		case *ast.AliasNode:
			name := tokenValue(v.Value)
			target, ok := d.anchors[name]
			if !ok {
				return nil, d.errorf(v, fmt.Sprintf("Define &%s before using *%s.", name, name), "unknown alias %q", "*"+name)
			}
			n = target
		case *ast.TagNode:
			return nil, d.errorf(v, "Remove the tag; quote the value if it must be a string.",
				"YAML tag %s is not supported", tokenValue(v))
		default:
			return n, nil
		}
	}
	return nil, d.errorf(n, "", "too many nested anchors and aliases")
}

func tokenValue(n ast.Node) string {
	if n == nil || n.GetToken() == nil {
		return ""
	}
	return n.GetToken().Value
}

func isNull(n ast.Node) bool {
	_, null := n.(*ast.NullNode)
	return n == nil || null
}

// kind names the YAML type of n for messages: "a string", "a list", ...
func kind(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// str decodes a string scalar. what names the value in messages ("name",
// "env FOO"). Like every decoding helper it takes the node as written and
// reports errors there, so a bad alias is reported where it is used.
func (d *decoder) str(at ast.Node, what string) (string, error) {
	n, err := d.resolve(at)
	if err != nil {
		return "", err
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, nil
	case *ast.LiteralNode:
		return v.Value.Value, nil
	}
	return "", d.errorf(at, scalarHint(n), "%s: expected a string, got %s", what, kind(n))
}

// scalarHint is the remedy for a non-string where a string was expected.
func scalarHint(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return `Write "" for an empty string.`
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode, *ast.BoolNode:
		return fmt.Sprintf("Quote it: %s.", strconv.Quote(tokenValue(n)))
	}
	return ""
}

// strList decodes a list of strings. It also returns each item's node, for
// positions. listHint is the remedy when n is a single string.
func (d *decoder) strList(at ast.Node, what string, listHint func(string) string) ([]string, []ast.Node, error) {
	n, err := d.resolve(at)
	if err != nil {
		return nil, nil, err
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		hint := ""
		if s, isStr := n.(*ast.StringNode); isStr {
			hint = listHint(s.Value)
		}
		return nil, nil, d.errorf(at, hint, "%s: expected a list of strings, got %s", what, kind(n))
	}
	vals := make([]string, 0, len(seq.Values))
	nodes := make([]ast.Node, 0, len(seq.Values))
	for _, item := range seq.Values {
		s, err := d.str(item, what)
		if err != nil {
			return nil, nil, err
		}
		vals = append(vals, s)
		nodes = append(nodes, item)
	}
	return vals, nodes, nil
}

// writeAsList is the usual listHint: split the string on spaces and commas
// and show it as a flow list.
func writeAsList(field string) func(string) string {
	return func(s string) string {
		return fmt.Sprintf("Write a list: %s: %s.", field, flowList(strings.Fields(strings.ReplaceAll(s, ",", " "))))
	}
}

// flowList renders items as a YAML flow list of quoted strings.
func flowList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// pairs returns the key/value pairs of a mapping node, resolved.
func pairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

// key decodes a mapping key. what names keys in messages ("field name").
func (d *decoder) key(n ast.Node, what string) (string, error) {
	if k, ok := n.(*ast.MappingKeyNode); ok {
		n = k.Value
	}
	if _, ok := n.(*ast.MergeKeyNode); ok {
		return "", d.errorf(n, "Write the keys out instead.", "merge keys (<<) are not supported")
	}
	v, err := d.resolve(n)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case *ast.StringNode:
		return v.Value, nil
	case ast.ScalarNode:
		return tokenValue(v), nil
	}
	return "", d.errorf(n, "", "%s: expected a string, got %s", what, kind(v))
}
